//! The PROXY protocol header (HAProxy's `send-proxy` / `send-proxy-v2`, versions 1 and 2)
//! that a TCP load balancer puts in front of each connection it relays, so the gateway
//! audits, throttles and limits by the engineer's address instead of the balancer's.
//!
//! Read only from the peers named in `[ssh] proxy_protocol_from` / `[https]
//! proxy_protocol_from`, and required from them: a connection from such a peer without a
//! valid header is closed, and a header from any other peer is never looked for (it would
//! be the start of SSH or TLS). The header is read byte-exact, so the first byte of SSH or
//! TLS after it stays in the socket; it is bounded in size (v1: 107 bytes, v2: 16 + 512)
//! and in time (the caller's deadline). `LOCAL` (v2) and `UNKNOWN` (v1), which a balancer
//! sends for its own health checks, keep the peer's address. Not where the listeners use
//! it ([`crate::ssh::server`], `web::listener`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The twelve bytes every version 2 header starts with.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 line, CRLF included (the specification's bound).
const V1_MAX: usize = 107;

/// The most address and TLV bytes a version 2 header may carry here; HAProxy's own TLVs
/// (ALPN, authority, unique id) fit many times over.
const V2_MAX_BODY: usize = 512;

/// Why a connection's PROXY header was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyHeaderError {
    /// The connection did not start with a PROXY header.
    #[error("no PROXY protocol header")]
    Missing,
    /// It started like one and then broke the format.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    /// Longer than allowed.
    #[error("PROXY protocol header too long")]
    TooLong,
    /// The connection closed or failed while the header was read.
    #[error("connection ended in the PROXY protocol header")]
    Eof,
}

/// Reads the header at the start of `stream` and returns the client's address it names, or
/// `peer` for a balancer's own connection (`LOCAL`, `UNKNOWN`). Consumes exactly the
/// header's bytes. The caller bounds the time.
pub async fn read<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: SocketAddr,
) -> Result<SocketAddr, ProxyHeaderError> {
    let mut first = [0u8; 16];
    read_exact(stream, &mut first[..6]).await?;
    if first[..6] == *b"PROXY " {
        let mut line = Vec::with_capacity(V1_MAX);
        line.extend_from_slice(&first[..6]);
        while !line.ends_with(b"\r\n") {
            if line.len() >= V1_MAX {
                return Err(ProxyHeaderError::TooLong);
            }
            let mut b = [0u8; 1];
            read_exact(stream, &mut b).await?;
            line.extend_from_slice(&b);
        }
        return parse_v1(&line).map(|a| a.unwrap_or(peer));
    }
    if first[..6] != V2_SIGNATURE[..6] {
        return Err(ProxyHeaderError::Missing);
    }
    read_exact(stream, &mut first[6..]).await?;
    let len = usize::from(u16::from_be_bytes([first[14], first[15]]));
    if len > V2_MAX_BODY {
        return Err(ProxyHeaderError::TooLong);
    }
    let mut body = vec![0u8; len];
    read_exact(stream, &mut body).await?;
    parse_v2(&first, &body).map(|a| a.unwrap_or(peer))
}

async fn read_exact<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
) -> Result<(), ProxyHeaderError> {
    stream
        .read_exact(buf)
        .await
        .map(|_| ())
        .map_err(|_| ProxyHeaderError::Eof)
}

/// A version 1 line, `PROXY TCP4 1.2.3.4 5.6.7.8 1234 22\r\n`: the source address, or
/// `None` for `PROXY UNKNOWN…`.
pub fn parse_v1(line: &[u8]) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    use ProxyHeaderError::Malformed;
    let text = line
        .strip_suffix(b"\r\n")
        .and_then(|l| std::str::from_utf8(l).ok())
        .ok_or(Malformed("v1 line is not text ending in CRLF"))?;
    let mut parts = text.split(' ');
    if parts.next() != Some("PROXY") {
        return Err(ProxyHeaderError::Missing);
    }
    let family = parts.next().ok_or(Malformed("v1 line has no family"))?;
    if family == "UNKNOWN" {
        return Ok(None);
    }
    let fields: Vec<&str> = parts.collect();
    let [src, _dst, src_port, _dst_port] = fields.as_slice() else {
        return Err(Malformed("v1 line needs four fields after the family"));
    };
    let ip: IpAddr = match family {
        "TCP4" => IpAddr::V4(
            src.parse()
                .map_err(|_| Malformed("v1 source is not IPv4"))?,
        ),
        "TCP6" => IpAddr::V6(
            src.parse()
                .map_err(|_| Malformed("v1 source is not IPv6"))?,
        ),
        _ => return Err(Malformed("v1 family is not TCP4, TCP6 or UNKNOWN")),
    };
    let port: u16 = src_port
        .parse()
        .map_err(|_| Malformed("v1 source port is not a port"))?;
    Ok(Some(SocketAddr::new(ip, port)))
}

/// A version 2 header: its 16 fixed bytes and the `len` bytes after them. The source
/// address for `PROXY` over TCP, `None` for `LOCAL` or a family without one.
pub fn parse_v2(fixed: &[u8; 16], body: &[u8]) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    use ProxyHeaderError::Malformed;
    let (signature, rest) = fixed.split_at(12);
    if signature != V2_SIGNATURE {
        return Err(ProxyHeaderError::Missing);
    }
    let [ver_cmd, family, ..] = rest else {
        return Err(Malformed("v2 header is short"));
    };
    if ver_cmd >> 4 != 2 {
        return Err(Malformed("v2 version is not 2"));
    }
    match ver_cmd & 0x0f {
        // LOCAL: the balancer's own connection (a health check); addresses are ignored.
        0 => return Ok(None),
        1 => {}
        _ => return Err(Malformed("v2 command is neither LOCAL nor PROXY")),
    }
    match family {
        // TCP over IPv4: source, destination (4 each), source port, destination port.
        0x11 => {
            let a: [u8; 12] = body
                .get(..12)
                .and_then(|a| a.try_into().ok())
                .ok_or(Malformed("v2 IPv4 addresses are short"))?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Ok(Some(SocketAddr::new(
                IpAddr::V4(ip),
                u16::from_be_bytes([a[8], a[9]]),
            )))
        }
        // TCP over IPv6: 16 bytes each.
        0x21 => {
            let a: [u8; 36] = body
                .get(..36)
                .and_then(|a| a.try_into().ok())
                .ok_or(Malformed("v2 IPv6 addresses are short"))?;
            let mut octets = [0u8; 16];
            for (o, b) in octets.iter_mut().zip(a) {
                *o = b;
            }
            Ok(Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(octets)),
                u16::from_be_bytes([a[32], a[33]]),
            )))
        }
        // UNSPEC: no address to take.
        0x00 => Ok(None),
        // UDP or unix sockets never carry an SSH or HTTPS client here.
        _ => Err(Malformed("v2 family is not TCP")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn peer() -> SocketAddr {
        "127.0.0.9:4000".parse().unwrap()
    }

    fn v2(cmd: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | cmd);
        h.push(family);
        h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    async fn read_all(bytes: &[u8]) -> (Result<SocketAddr, ProxyHeaderError>, Vec<u8>) {
        let mut cursor = std::io::Cursor::new(bytes.to_vec());
        let got = read(&mut cursor, peer()).await;
        let pos = usize::try_from(cursor.position()).unwrap();
        (got, bytes[pos..].to_vec())
    }

    #[tokio::test]
    async fn v1_names_the_client_and_leaves_the_ssh_banner_in_the_stream() {
        let (got, rest) =
            read_all(b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 2222\r\nSSH-2.0-OpenSSH_9.2\r\n").await;
        assert_eq!(got.unwrap(), "192.0.2.7:51234".parse().unwrap());
        assert_eq!(rest, b"SSH-2.0-OpenSSH_9.2\r\n");
        let (got, _) = read_all(b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 22\r\n").await;
        assert_eq!(got.unwrap(), "[2001:db8::7]:40000".parse().unwrap());
        let (got, _) = read_all(b"PROXY UNKNOWN\r\n").await;
        assert_eq!(got.unwrap(), peer());
    }

    #[tokio::test]
    async fn v2_names_the_client_and_leaves_the_tls_hello_in_the_stream() {
        let mut body = vec![192, 0, 2, 7, 10, 0, 0, 1];
        body.extend_from_slice(&51234u16.to_be_bytes());
        body.extend_from_slice(&8443u16.to_be_bytes());
        // A TLV after the addresses (HAProxy's unique id) is skipped.
        body.extend_from_slice(&[0x05, 0x00, 0x02, b'i', b'd']);
        let mut bytes = v2(1, 0x11, &body);
        bytes.extend_from_slice(&[0x16, 0x03, 0x01]);
        let (got, rest) = read_all(&bytes).await;
        assert_eq!(got.unwrap(), "192.0.2.7:51234".parse().unwrap());
        assert_eq!(rest, [0x16, 0x03, 0x01]);

        let mut body6 = vec![0u8; 36];
        body6[0] = 0x20;
        body6[1] = 0x01;
        body6[15] = 7;
        body6[32..34].copy_from_slice(&40000u16.to_be_bytes());
        let (got, _) = read_all(&v2(1, 0x21, &body6)).await;
        assert_eq!(got.unwrap(), "[2001::7]:40000".parse().unwrap());

        // LOCAL: a health check from the balancer itself.
        let (got, _) = read_all(&v2(0, 0x11, &body)).await;
        assert_eq!(got.unwrap(), peer());
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        let (got, _) = read_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
        assert_eq!(got.unwrap_err(), ProxyHeaderError::Missing);
        let (got, _) = read_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]).await;
        assert_eq!(got.unwrap_err(), ProxyHeaderError::Missing);
        let (got, _) = read_all(b"PROXY TCP4 192.0.2.7 10.0.0.1 51234\r\n").await;
        assert!(matches!(got.unwrap_err(), ProxyHeaderError::Malformed(_)));
        let (got, _) = read_all(b"PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n").await;
        assert!(matches!(got.unwrap_err(), ProxyHeaderError::Malformed(_)));
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        let (got, _) = read_all(long.as_bytes()).await;
        assert_eq!(got.unwrap_err(), ProxyHeaderError::TooLong);
        let (got, _) = read_all(b"PROXY TCP4 192.0.2.7").await;
        assert_eq!(got.unwrap_err(), ProxyHeaderError::Eof);
        let (got, _) = read_all(&v2(1, 0x11, &[1, 2, 3])).await;
        assert!(matches!(got.unwrap_err(), ProxyHeaderError::Malformed(_)));
        let (got, _) = read_all(&v2(1, 0x12, &[0; 12])).await;
        assert!(matches!(got.unwrap_err(), ProxyHeaderError::Malformed(_)));
        let mut huge = v2(1, 0x11, &[]);
        huge[14..16].copy_from_slice(&600u16.to_be_bytes());
        let (got, _) = read_all(&huge).await;
        assert_eq!(got.unwrap_err(), ProxyHeaderError::TooLong);
    }

    proptest! {
        /// Whatever arrives, the reader answers without panicking and never reads past
        /// the bound.
        #[test]
        fn any_bytes_are_answered_within_the_bound(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (_, rest) = rt.block_on(read_all(&bytes));
            prop_assert!(bytes.len() - rest.len() <= 16 + V2_MAX_BODY);
        }

        #[test]
        fn every_v1_tcp4_line_round_trips(a in any::<[u8; 4]>(), port in any::<u16>()) {
            let ip = Ipv4Addr::from(a);
            let line = format!("PROXY TCP4 {ip} 10.0.0.1 {port} 22\r\n");
            prop_assert_eq!(parse_v1(line.as_bytes()).unwrap(), Some(SocketAddr::new(IpAddr::V4(ip), port)));
        }
    }
}
