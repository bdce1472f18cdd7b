//! A WebSocket client written by hand over TLS, for what a browser never does: it opens the
//! page's sockets like the page (the gateway's `Origin`, the user's session cookie) and
//! then can simply stop reading, so the gateway meets a peer whose TCP window stays shut.
//!
//! Only what the tests need: the upgrade, masked binary frames out, frames in. The gateway's
//! self-signed certificate is accepted without checking: the peer is our own child process
//! on loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

use crate::Gateway;

#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS connection to the gateway's HTTPS port (HTTP/1.1 only, no ALPN), the handshake
/// not yet done: it happens on the first read or write. Reads time out after 30 s.
pub fn tls_connect(gw: &Gateway) -> StreamOwned<ClientConnection, TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", gw.https_port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    StreamOwned::new(conn, tcp)
}

/// A frame from the gateway.
#[derive(Debug)]
pub struct Frame {
    /// 1 text, 2 binary, 8 close, 9 ping, 10 pong.
    pub opcode: u8,
    /// The payload.
    pub data: Vec<u8>,
}

/// One WebSocket to the gateway's HTTPS port.
pub struct RawWebSocket {
    tls: StreamOwned<ClientConnection, TcpStream>,
}

impl RawWebSocket {
    /// Opens `path` (e.g. `/api/v1/terminal?target=web01`) as the page would, with `cookie`
    /// (a `Cookie` header value). `Err` carries the gateway's answer when it is not 101.
    pub fn open(gw: &Gateway, path: &str, cookie: &str) -> Result<RawWebSocket, String> {
        let mut tls = tls_connect(gw);
        let origin = format!("https://127.0.0.1:{}", gw.https_port);
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\nCookie: {cookie}\r\n\r\n",
            port = gw.https_port
        );
        tls.write_all(request.as_bytes()).unwrap();
        // The answer's head, byte by byte: frames may follow right behind it.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            match tls.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => break,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if head.starts_with("HTTP/1.1 101") {
            Ok(RawWebSocket { tls })
        } else {
            // The body by its length (the connection may stay open), else to the end.
            let length = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            let mut rest = Vec::new();
            match length {
                Some(n) => {
                    rest.resize(n, 0);
                    let _ = tls.read_exact(&mut rest);
                }
                None => {
                    let _ = tls.read_to_end(&mut rest);
                }
            }
            Err(format!("{head}{}", String::from_utf8_lossy(&rest)))
        }
    }

    /// Sends a binary frame (masked, as a client must).
    pub fn send_binary(&mut self, data: &[u8]) {
        let mask = [0x5a, 0x17, 0xc3, 0x88];
        let mut frame = vec![0x82];
        match data.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.tls.write_all(&frame).unwrap();
        self.tls.flush().unwrap();
    }

    /// Reads the next frame.
    pub fn read_frame(&mut self) -> Frame {
        let mut h = [0u8; 2];
        self.tls.read_exact(&mut h).unwrap();
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                self.tls.read_exact(&mut b).unwrap();
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                self.tls.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        assert_eq!(h[1] & 0x80, 0, "the gateway masked a frame");
        let mut data = vec![0u8; usize::try_from(len).unwrap()];
        self.tls.read_exact(&mut data).unwrap();
        Frame {
            opcode: h[0] & 0x0f,
            data,
        }
    }
}
