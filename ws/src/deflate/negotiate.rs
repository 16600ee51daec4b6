//! Negotiating permessage-deflate (RFC 7692 §5, §7.1): the server picks the first offer it can
//! honour and answers it; the client checks that answer against its offer. Both end with an
//! [`Agreement`]: what each direction's compressor may do.

use super::params::{ClientMaxWindowBits, DeflateParams, ParamError, WindowBits};
use crate::connection::Role;
use crate::handshake::ExtensionView;

/// What this end is willing to do. Window sizes bound memory: the inflater keeps a window of
/// 2^bits bytes for the peer's back-references, the compressor never looks further back than
/// its own window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflatePolicy {
    /// Largest window the peer's compressor may use, i.e. the inflate window this end keeps.
    /// Below 15 a client asks for it with `server_max_window_bits`; a server asks with
    /// `client_max_window_bits` and declines offers from clients that cannot limit their window.
    pub receive_window_bits: WindowBits,
    /// Largest window this end's compressor uses (a smaller one asked by the peer wins).
    pub send_window_bits: WindowBits,
}

impl Default for DeflatePolicy {
    /// 32 KiB windows both ways: what every browser and zlib-based peer may use.
    fn default() -> Self {
        DeflatePolicy {
            receive_window_bits: WindowBits::MAX,
            send_window_bits: WindowBits::MAX,
        }
    }
}

/// The agreed behaviour of both directions, seen from one end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// Window of this end's compressor (its back-references reach at most this far).
    pub send_window_bits: WindowBits,
    /// This end must reset its compressor after each message.
    pub send_no_context_takeover: bool,
    /// Window this end's inflater keeps: the peer may refer this far back.
    pub receive_window_bits: WindowBits,
    /// The peer resets its compressor after each message, so the inflater may too.
    pub receive_no_context_takeover: bool,
}

impl Agreement {
    /// The agreement that `response` (the server's accepted parameters) makes, seen by `role`.
    pub fn from_response(response: &DeflateParams, role: Role) -> Agreement {
        let client_bits = match response.client_max_window_bits {
            Some(ClientMaxWindowBits::Bits(bits)) => bits,
            _ => WindowBits::MAX,
        };
        let server_bits = response.server_max_window_bits.unwrap_or(WindowBits::MAX);
        let (server, client) = (
            (server_bits, response.server_no_context_takeover),
            (client_bits, response.client_no_context_takeover),
        );
        let (send, receive) = match role {
            Role::Server => (server, client),
            Role::Client => (client, server),
        };
        Agreement {
            send_window_bits: send.0,
            send_no_context_takeover: send.1,
            receive_window_bits: receive.0,
            receive_no_context_takeover: receive.1,
        }
    }
}

/// Server: the answer to the first acceptable permessage-deflate offer among `offers`, in
/// order (RFC 7692 §5.1), or `None` to run without the extension. Offers of other extensions,
/// malformed ones and ones with unknown, duplicate or out-of-range parameters are declined
/// (§7); so is an offer that does not let this end keep its inflate window below 32 KiB when
/// `policy` asks for that.
pub fn accept_offer<'a>(
    offers: impl IntoIterator<Item = Result<ExtensionView<'a>, impl Sized>>,
    policy: &DeflatePolicy,
) -> Option<(DeflateParams, Agreement)> {
    offers
        .into_iter()
        .filter_map(|offer| DeflateParams::parse(&offer.ok()?).ok())
        .find_map(|offer| answer(&offer, policy))
        .map(|response| (response, Agreement::from_response(&response, Role::Server)))
}

/// The response to one valid offer, if this end can honour it.
fn answer(offer: &DeflateParams, policy: &DeflatePolicy) -> Option<DeflateParams> {
    let receive = policy.receive_window_bits;
    let client_max_window_bits = match offer.client_max_window_bits {
        // The client may use 32 KiB: acceptable only if we keep that much.
        None if receive < WindowBits::MAX => return None,
        None => None,
        Some(ClientMaxWindowBits::Supported) if receive == WindowBits::MAX => None,
        Some(ClientMaxWindowBits::Supported) => Some(ClientMaxWindowBits::Bits(receive)),
        Some(ClientMaxWindowBits::Bits(bits)) => Some(ClientMaxWindowBits::Bits(bits.min(receive))),
    };
    // Our compressor honours any window, so the client's limit is always accepted (§7.1.2.1).
    let server_max_window_bits = match offer.server_max_window_bits {
        Some(bits) => Some(bits.min(policy.send_window_bits)),
        None if policy.send_window_bits < WindowBits::MAX => Some(policy.send_window_bits),
        None => None,
    };
    Some(DeflateParams {
        server_no_context_takeover: offer.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    })
}

/// Client: the offer to send for `policy`: `client_max_window_bits` (we can limit our window
/// if asked), and `server_max_window_bits` when we want the server's window below 32 KiB.
pub fn client_offer(policy: &DeflatePolicy) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: (policy.receive_window_bits < WindowBits::MAX)
            .then_some(policy.receive_window_bits),
        client_max_window_bits: Some(if policy.send_window_bits < WindowBits::MAX {
            ClientMaxWindowBits::Bits(policy.send_window_bits)
        } else {
            ClientMaxWindowBits::Supported
        }),
    }
}

/// Why a client must fail the connection over the server's `Sec-WebSocket-Extensions`
/// (RFC 6455 §4.1 item 6, RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseExtensionError {
    /// An extension was selected although none was offered, or one that was not offered, or
    /// more than one, or a malformed element.
    NotOffered,
    /// The permessage-deflate element has an unknown, duplicate or invalid parameter.
    Invalid(ParamError),
    /// `client_max_window_bits` without a value, or when the offer did not have it, or above
    /// the offered value; or `server_max_window_bits` above the offered value (§7.1.2).
    WindowNotOffered,
}

/// Client: checks the server's extension elements against `offer` (what
/// [`client_offer`] produced, `None` if nothing was offered). `Ok(None)`: no extension in use.
pub fn check_response<'a>(
    mut elements: impl Iterator<Item = Result<ExtensionView<'a>, impl Sized>>,
    offer: Option<&DeflateParams>,
) -> Result<Option<(DeflateParams, Agreement)>, ResponseExtensionError> {
    let Some(first) = elements.next() else {
        return Ok(None);
    };
    let (Some(offer), Ok(view), None) = (offer, first, elements.next()) else {
        return Err(ResponseExtensionError::NotOffered);
    };
    let response = DeflateParams::parse(&view).map_err(|error| match error {
        ParamError::OtherExtension => ResponseExtensionError::NotOffered,
        other => ResponseExtensionError::Invalid(other),
    })?;
    let server_ok = match (
        response.server_max_window_bits,
        offer.server_max_window_bits,
    ) {
        (Some(got), Some(offered)) => got <= offered,
        _ => true,
    };
    let client_ok = match (
        response.client_max_window_bits,
        offer.client_max_window_bits,
    ) {
        (None, _) => true,
        (Some(ClientMaxWindowBits::Supported), _) | (Some(_), None) => false,
        (Some(ClientMaxWindowBits::Bits(_)), Some(ClientMaxWindowBits::Supported)) => true,
        (Some(ClientMaxWindowBits::Bits(got)), Some(ClientMaxWindowBits::Bits(offered))) => {
            got <= offered
        }
    };
    if !(server_ok && client_ok) {
        return Err(ResponseExtensionError::WindowNotOffered);
    }
    // The offer's own limit on the server's window stands even if the answer repeats none.
    let mut agreed = response;
    if agreed.server_max_window_bits.is_none() {
        agreed.server_max_window_bits = offer.server_max_window_bits;
    }
    if let (None, Some(ClientMaxWindowBits::Bits(bits))) =
        (agreed.client_max_window_bits, offer.client_max_window_bits)
    {
        agreed.client_max_window_bits = Some(ClientMaxWindowBits::Bits(bits));
    }
    Ok(Some((
        response,
        Agreement::from_response(&agreed, Role::Client),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{ExtensionOffers, Header};

    fn header(value: &str) -> [Header<'_>; 1] {
        [Header {
            name: "Sec-WebSocket-Extensions",
            value: value.as_bytes(),
        }]
    }

    fn server(offers: &str, policy: &DeflatePolicy) -> Option<heapless::String<160>> {
        let headers = header(offers);
        let (response, _) = accept_offer(ExtensionOffers::new(&headers), policy)?;
        let bytes = response.to_bytes();
        Some(heapless::String::try_from(core::str::from_utf8(&bytes).unwrap()).unwrap())
    }

    const ANY: DeflatePolicy = DeflatePolicy {
        receive_window_bits: WindowBits::MAX,
        send_window_bits: WindowBits::MAX,
    };

    fn bits(n: u8) -> WindowBits {
        WindowBits::new(n).unwrap()
    }

    #[test]
    fn server_answers_each_parameter() {
        let table = [
            ("permessage-deflate", "permessage-deflate"),
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate",
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                "permessage-deflate; client_max_window_bits=10",
            ),
            (
                "permessage-deflate; server_max_window_bits=8",
                "permessage-deflate; server_max_window_bits=8",
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            ),
        ];
        for (offer, response) in table {
            assert_eq!(server(offer, &ANY).as_deref(), Some(response), "{offer}");
        }
    }

    #[test]
    fn server_declines_bad_offers_and_takes_the_next() {
        let offers = "x-webkit-deflate-frame, permessage-deflate; foo, \
            permessage-deflate; server_max_window_bits=16, \
            permessage-deflate; client_no_context_takeover; client_no_context_takeover, \
            permessage-deflate; server_max_window_bits=\"9\", permessage-deflate";
        assert_eq!(
            server(offers, &ANY).as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
        assert_eq!(server("permessage-deflate; x=1, y", &ANY), None);
        assert_eq!(server("", &ANY), None);
    }

    #[test]
    fn server_with_a_small_receive_window() {
        let policy = DeflatePolicy {
            receive_window_bits: bits(10),
            send_window_bits: bits(12),
        };
        // A client that cannot limit its window is declined; one that can is asked to.
        assert_eq!(server("permessage-deflate", &policy), None);
        assert_eq!(
            server(
                "permessage-deflate, permessage-deflate; client_max_window_bits",
                &policy
            )
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=10")
        );
        assert_eq!(
            server(
                "permessage-deflate; client_max_window_bits=9; server_max_window_bits=14",
                &policy
            )
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=9")
        );
        let headers =
            header("permessage-deflate; client_max_window_bits=9; server_no_context_takeover");
        let (_, agreement) = accept_offer(ExtensionOffers::new(&headers), &policy).unwrap();
        assert_eq!(
            agreement,
            Agreement {
                send_window_bits: bits(12),
                send_no_context_takeover: true,
                receive_window_bits: bits(9),
                receive_no_context_takeover: false,
            }
        );
    }

    fn client(
        response: &str,
        offer: Option<&DeflateParams>,
    ) -> Result<Option<Agreement>, ResponseExtensionError> {
        let headers = header(response);
        let elements = ExtensionOffers::new(if response.is_empty() { &[] } else { &headers });
        check_response(elements, offer).map(|r| r.map(|(_, agreement)| agreement))
    }

    #[test]
    fn client_offer_follows_the_policy() {
        assert_eq!(
            &client_offer(&ANY).to_bytes()[..],
            b"permessage-deflate; client_max_window_bits"
        );
        let small = DeflatePolicy {
            receive_window_bits: bits(10),
            send_window_bits: bits(9),
        };
        assert_eq!(
            &client_offer(&small).to_bytes()[..],
            b"permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"
        );
    }

    #[test]
    fn client_accepts_answers_within_its_offer() {
        let offer = client_offer(&ANY);
        assert_eq!(client("", Some(&offer)), Ok(None));
        assert_eq!(client("", None), Ok(None));
        assert_eq!(
            client(
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=11; \
                 server_max_window_bits=13",
                Some(&offer)
            ),
            Ok(Some(Agreement {
                send_window_bits: bits(11),
                send_no_context_takeover: false,
                receive_window_bits: bits(13),
                receive_no_context_takeover: true,
            }))
        );
        let small = client_offer(&DeflatePolicy {
            receive_window_bits: bits(10),
            send_window_bits: bits(9),
        });
        // The server did not repeat our limits: they hold anyway.
        assert_eq!(
            client("permessage-deflate", Some(&small)),
            Ok(Some(Agreement {
                send_window_bits: bits(9),
                send_no_context_takeover: false,
                receive_window_bits: bits(10),
                receive_no_context_takeover: false,
            }))
        );
    }

    #[test]
    fn client_fails_answers_outside_its_offer() {
        use ResponseExtensionError::*;
        let offer = client_offer(&ANY);
        let small = client_offer(&DeflatePolicy {
            receive_window_bits: bits(10),
            send_window_bits: bits(9),
        });
        let no_client_bits = DeflateParams::default();
        let table: [(&str, Option<&DeflateParams>, ResponseExtensionError); 9] = [
            ("permessage-deflate", None, NotOffered),
            ("x-foo", Some(&offer), NotOffered),
            (
                "permessage-deflate, permessage-deflate",
                Some(&offer),
                NotOffered,
            ),
            ("permessage-deflate; p=\"", Some(&offer), NotOffered),
            (
                "permessage-deflate; foo",
                Some(&offer),
                Invalid(ParamError::UnknownParameter),
            ),
            (
                "permessage-deflate; client_max_window_bits",
                Some(&offer),
                WindowNotOffered,
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                Some(&no_client_bits),
                WindowNotOffered,
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                Some(&small),
                WindowNotOffered,
            ),
            (
                "permessage-deflate; server_max_window_bits=11",
                Some(&small),
                WindowNotOffered,
            ),
        ];
        for (response, offer, error) in table {
            assert_eq!(client(response, offer), Err(error), "{response}");
        }
    }
}
