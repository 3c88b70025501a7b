-- Prosody 0.12 for the docker-compose.yml trio: the XMPP server of xmpp.example.org, with Stox attached
-- as the XEP-0114 component sip.example.org (the SIP domain's users, seen from XMPP).
-- Users: docker-compose exec prosody prosodyctl register bob xmpp.example.org PASSWORD

pidfile = "/run/prosody/prosody.pid"
data_path = "/var/lib/prosody"
certificates = "/etc/prosody/certs"

interfaces = { "*" }
c2s_ports = { 5222 }
-- Components connect from the compose network only (docker-compose.yml publishes 5222 alone).
component_ports = { 5347 }
component_interfaces = { "0.0.0.0" }

-- All of Stox's traffic is one component stream. Prosody's default 4096-byte reads leave bytes in
-- LuaSocket's 8192-byte buffer and pause the connection a timer tick (1 ms) after each read, which caps
-- one stream near 4 MB/s (about 10,000 messages/s); 64 KiB reads drain it in one go.
network_default_read_size = 65536
-- Lua 5.4's generational collector costs about a third less CPU per stanza than the incremental
-- default under a gateway's load (Stox BENCHMARKS.md); on older Lua Prosody logs that it is unsupported
-- and keeps the default.
gc = { mode = "generational" }

modules_enabled = {
  "roster"; "saslauth"; "tls"; "disco"; "ping"; "posix";
  "carbons"; "pep"; "private"; "vcard_legacy"; "blocklist"; "version"; "uptime"; "time";
}
-- No server-to-server federation or HTTP here: SIP federation is Stox's job; enable s2s (and give
-- Prosody certificates for xmpp.example.org) to federate with other XMPP domains too.
modules_disabled = { "s2s"; "s2s_auth_certs"; "http" }

-- Put a certificate for xmpp.example.org in config/prosody/certs/ (mounted at /etc/prosody/certs) and
-- set this to true; plaintext logins are only acceptable on a trusted test network.
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

authentication = "internal_hashed"
storage = "internal"
-- info: a debug log costs about a quarter of Prosody's throughput.
log = { { levels = { min = "info" }, to = "console" } }

VirtualHost "xmpp.example.org"
  -- Lets clients discover the gateway (it is not a subdomain of this host).
  disco_items = { { "sip.example.org", "SIP users (Stox gateway)" } }

-- The secret must equal xmpp.components[0].secret in config/stox.compose.yaml.
Component "sip.example.org"
  component_secret = "change-me-compose"
