//! Userspace TCP/IP stack over a TUN device, and the server glue that runs `ws` over it.
