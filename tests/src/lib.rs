//! Harness for the netns integration tests: namespaces, TUN devices and `tunws` processes that clean up after themselves.
