//! A webhook receiver: a small HTTP server on a loopback port that records what the gateway
//! POSTs and answers 200, or never answers (`silent`), for the webhook tests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::wait_until;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct WebhookHit {
    /// The request path.
    pub path: String,
    /// Headers, names in lower case.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl WebhookHit {
    /// A header's value, empty when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A loopback HTTP receiver: answers 200, or never answers (`silent`).
pub struct WebhookReceiver {
    /// Its port on 127.0.0.1.
    pub port: u16,
    hits: Arc<Mutex<Vec<WebhookHit>>>,
    stop: Arc<AtomicBool>,
}

impl WebhookReceiver {
    /// Listens on 127.0.0.1:`port`.
    pub fn start(port: u16, silent: bool) -> WebhookReceiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (h, s) = (h.clone(), s.clone());
                std::thread::spawn(move || serve_one(conn, &h, &s, silent));
            }
        });
        WebhookReceiver { port, hits, stop }
    }

    /// The requests so far.
    pub fn hits(&self) -> Vec<WebhookHit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits for at least `n` requests.
    #[track_caller]
    pub fn wait_hits(&self, n: usize, timeout: Duration) -> Vec<WebhookHit> {
        wait_until(&format!("{n} webhook request(s)"), timeout, || {
            let h = self.hits();
            (h.len() >= n).then_some(h)
        })
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_one(conn: TcpStream, hits: &Mutex<Vec<WebhookHit>>, stop: &AtomicBool, silent: bool) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).unwrap_or(0) == 0 {
            return;
        }
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    hits.lock().unwrap().push(WebhookHit {
        path,
        headers,
        body,
    });
    if silent {
        // Holds the connection and never answers.
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        return;
    }
    let mut conn = conn;
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}
