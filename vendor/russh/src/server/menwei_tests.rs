//! Tests of Menwei's patches to the server (vendor/russh/MENWEI-PATCH.md): the channel
//! window granted as the application consumes and enforced, user names that are not UTF-8,
//! and a channel the server closed first. A raw client speaks unencrypted packets (the
//! `none` kex, cipher and MAC of [`crate::tests::raw_no_crypto`]) to a real server session,
//! so each test sees exactly what a peer would: the packets that come back, or none.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use byteorder::{BigEndian, ByteOrder};
use tokio::sync::{mpsc, oneshot};

use crate::tests::raw_no_crypto::{
    MSG_CHANNEL_OPEN, MSG_CHANNEL_OPEN_CONFIRMATION, MSG_USERAUTH_REQUEST, MSG_USERAUTH_SUCCESS,
    RawSession, encode_string, no_crypto_server_config, push_u32, raw_client_no_crypto_kex,
    read_packet, read_ssh_id,
};
use crate::{Channel, ChannelMsg, Error, WindowViolation, msg, server};

/// The window the test server gives each channel, and its maximum packet size.
const WINDOW: u32 = 64 * 1024;
const PACKET: u32 = 16 * 1024;
/// The raw client's number for every channel it opens.
const CLIENT_CHANNEL: u32 = 0;

/// The server side's application: accepts `none` auth (noting the user name) and every
/// session channel (handing the channel to the test).
struct App {
    users: Arc<Mutex<Vec<String>>>,
    channels: mpsc::UnboundedSender<Channel<server::Msg>>,
}

impl server::Handler for App {
    type Error = Error;

    async fn auth_none(&mut self, user: &str) -> Result<server::Auth, Self::Error> {
        self.users.lock().unwrap().push(user.to_owned());
        Ok(server::Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<server::Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        let _ = self.channels.send(channel);
        Ok(())
    }
}

/// A raw client connected to a server session running [`App`], after the key exchange.
struct Peer {
    raw: RawSession,
    handle: server::Handle,
    users: Arc<Mutex<Vec<String>>>,
    channels: mpsc::UnboundedReceiver<Channel<server::Msg>>,
}

async fn connect(window_on_consume: bool) -> Peer {
    let mut config = Arc::try_unwrap(no_crypto_server_config()).ok().unwrap();
    config.window_on_consume = window_on_consume;
    config.window_size = WINDOW;
    config.maximum_packet_size = PACKET;
    // A short event queue, so that output fills it quickly.
    config.event_buffer_size = 2;
    let config = Arc::new(config);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let users = Arc::new(Mutex::new(Vec::new()));
    let (channels_tx, channels) = mpsc::unbounded_channel();
    let (handle_tx, handle_rx) = oneshot::channel();
    let app = App {
        users: users.clone(),
        channels: channels_tx,
    };
    let server_task = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let running = server::run_stream(config, socket, app).await.unwrap();
        let _ = handle_tx.send(running.handle());
        running.await
    });

    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"SSH-2.0-menwei-test\r\n").await.unwrap();
    read_ssh_id(&mut stream).await.unwrap();
    let _server_kexinit = read_packet(&mut stream).await.unwrap();
    raw_client_no_crypto_kex(&mut stream).await.unwrap();
    let handle = handle_rx.await.unwrap();
    Peer {
        raw: RawSession {
            events: Arc::default(),
            stream,
            server_task,
        },
        handle,
        users,
        channels,
    }
}

impl Peer {
    /// The next packet from the server whose type is one of `types`, skipping others;
    /// `None` if none comes within `wait` (or the connection ends).
    async fn expect(&mut self, types: &[u8], wait: Duration) -> Option<Vec<u8>> {
        tokio::time::timeout(wait, async {
            loop {
                let packet = read_packet(&mut self.raw.stream).await.ok()?;
                if types.contains(packet.first()?) {
                    return Some(packet);
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Logs in with `none` as `test`.
    async fn login(&mut self) {
        self.raw.auth_none().await.unwrap();
    }

    /// Opens a session channel offering `client_window` for the server's output: the
    /// server's channel number, and the application's half of the channel.
    async fn open(&mut self, client_window: u32) -> (u32, Channel<server::Msg>) {
        let mut open = vec![MSG_CHANNEL_OPEN];
        encode_string(&mut open, b"session");
        push_u32(&mut open, CLIENT_CHANNEL);
        push_u32(&mut open, client_window);
        push_u32(&mut open, 32 * 1024);
        self.raw.send_packet(&open).await.unwrap();
        let confirmation = self
            .expect(&[MSG_CHANNEL_OPEN_CONFIRMATION], SOON)
            .await
            .expect("no channel open confirmation");
        let server_channel = BigEndian::read_u32(&confirmation[5..9]);
        let channel = self.channels.recv().await.unwrap();
        (server_channel, channel)
    }

    /// Sends `len` bytes of channel data (`ext`: as extended data of that type).
    async fn data(&mut self, server_channel: u32, ext: Option<u32>, len: usize) {
        let mut packet = vec![if ext.is_some() {
            msg::CHANNEL_EXTENDED_DATA
        } else {
            msg::CHANNEL_DATA
        }];
        push_u32(&mut packet, server_channel);
        if let Some(ext) = ext {
            push_u32(&mut packet, ext);
        }
        encode_string(&mut packet, &vec![b'x'; len]);
        self.raw.send_packet(&packet).await.unwrap();
    }

    /// Sends a full window in maximum-size packets.
    async fn fill_window(&mut self, server_channel: u32) {
        for _ in 0..WINDOW / PACKET {
            self.data(server_channel, None, PACKET as usize).await;
        }
    }

    /// How the server session ended, if it did soon.
    async fn ended(self) -> Option<Result<(), Error>> {
        let server_task = self.raw.server_task;
        tokio::time::timeout(SOON, server_task)
            .await
            .ok()
            .map(|joined| joined.unwrap())
    }
}

/// Reads `bytes` of data off the application's half of a channel.
async fn take(channel: &mut Channel<server::Msg>, mut bytes: usize) {
    while bytes > 0 {
        match tokio::time::timeout(SOON, channel.wait()).await {
            Ok(Some(ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. })) => {
                bytes = bytes.saturating_sub(data.len())
            }
            Ok(Some(_)) => {}
            other => panic!("{bytes} bytes of data still expected, got {other:?}"),
        }
    }
}

/// A DISCONNECT's reason code and description.
fn disconnect_reason(packet: &[u8]) -> (u32, String) {
    let code = BigEndian::read_u32(&packet[1..5]);
    let len = BigEndian::read_u32(&packet[5..9]) as usize;
    (
        code,
        String::from_utf8_lossy(&packet[9..9 + len]).into_owned(),
    )
}

/// A WINDOW_ADJUST's amount.
fn adjusted(packet: &[u8]) -> u32 {
    BigEndian::read_u32(&packet[5..9])
}

const QUIET: Duration = Duration::from_millis(300);
/// Long enough for a loaded CI machine; only a failing test waits it out.
const SOON: Duration = Duration::from_secs(10);

#[tokio::test]
async fn window_goes_back_only_as_the_application_consumes() {
    let mut peer = connect(true).await;
    peer.login().await;
    let (ch, mut channel) = peer.open(WINDOW).await;

    peer.fill_window(ch).await;
    // The data has arrived (the application can read it) but is not consumed yet: no
    // window comes back.
    take(&mut channel, WINDOW as usize).await;
    assert_eq!(
        peer.expect(&[msg::CHANNEL_WINDOW_ADJUST], QUIET).await,
        None,
        "window granted before the application consumed anything"
    );

    // Less than half the window consumed: still nothing (window goes back in halves).
    peer.handle.consumed(channel.id(), PACKET).await.unwrap();
    assert_eq!(
        peer.expect(&[msg::CHANNEL_WINDOW_ADJUST], QUIET).await,
        None
    );
    // Half of it: that half comes back.
    peer.handle.consumed(channel.id(), PACKET).await.unwrap();
    let adjust = peer
        .expect(&[msg::CHANNEL_WINDOW_ADJUST], SOON)
        .await
        .expect("no window adjust after half the window was consumed");
    assert_eq!(adjusted(&adjust), WINDOW / 2);

    // The client may now send exactly that much again, and the connection stays up.
    for _ in 0..WINDOW / 2 / PACKET {
        peer.data(ch, None, PACKET as usize).await;
    }
    take(&mut channel, (WINDOW / 2) as usize).await;
    assert!(!peer.raw.server_task.is_finished());
}

#[tokio::test]
async fn data_beyond_the_window_is_disconnected_with_the_reason() {
    let mut peer = connect(true).await;
    peer.login().await;
    let (ch, mut channel) = peer.open(WINDOW).await;

    peer.fill_window(ch).await;
    peer.data(ch, None, 1).await;
    let disconnect = peer
        .expect(&[msg::DISCONNECT], SOON)
        .await
        .expect("no disconnect after data beyond the window");
    assert_eq!(
        disconnect_reason(&disconnect),
        (2, "peer sent data beyond the channel window".to_owned()),
        "SSH_DISCONNECT_PROTOCOL_ERROR with the reason"
    );
    // The window's worth reached the application, the byte beyond it did not.
    take(&mut channel, WINDOW as usize).await;
    assert!(
        !matches!(
            tokio::time::timeout(QUIET, channel.wait()).await,
            Ok(Some(ChannelMsg::Data { .. }))
        ),
        "data beyond the window reached the application"
    );
    assert!(matches!(
        peer.ended().await,
        Some(Err(Error::ChannelWindow(WindowViolation::BeyondWindow)))
    ));
}

#[tokio::test]
async fn extended_data_beyond_the_window_is_disconnected_too() {
    let mut peer = connect(true).await;
    peer.login().await;
    let (ch, _channel) = peer.open(WINDOW).await;

    for _ in 0..WINDOW / PACKET {
        peer.data(ch, Some(1), PACKET as usize).await;
    }
    peer.data(ch, Some(1), 1).await;
    let disconnect = peer.expect(&[msg::DISCONNECT], SOON).await.unwrap();
    assert_eq!(
        disconnect_reason(&disconnect).1,
        "peer sent data beyond the channel window"
    );
}

#[tokio::test]
async fn data_larger_than_the_maximum_packet_is_disconnected_with_the_reason() {
    let mut peer = connect(true).await;
    peer.login().await;
    let (ch, _channel) = peer.open(WINDOW).await;

    peer.data(ch, None, PACKET as usize + 1).await;
    let disconnect = peer
        .expect(&[msg::DISCONNECT], SOON)
        .await
        .expect("no disconnect after an oversized packet");
    assert_eq!(
        disconnect_reason(&disconnect),
        (
            2,
            "peer sent data larger than the channel's maximum packet size".to_owned()
        )
    );
    assert!(matches!(
        peer.ended().await,
        Some(Err(Error::ChannelWindow(WindowViolation::PacketTooLarge)))
    ));
}

/// The default (`window_on_consume = false`) is upstream's: window granted as data arrives,
/// data beyond it tolerated (RFC 4254 leaves it to the implementation).
#[tokio::test]
async fn without_window_on_consume_upstream_behaviour_stays() {
    let mut peer = connect(false).await;
    peer.login().await;
    let (ch, mut channel) = peer.open(WINDOW).await;

    peer.fill_window(ch).await;
    assert!(
        peer.expect(&[msg::CHANNEL_WINDOW_ADJUST], SOON)
            .await
            .is_some(),
        "upstream grants window as data arrives"
    );
    peer.data(ch, None, PACKET as usize + 1).await;
    take(&mut channel, WINDOW as usize + PACKET as usize + 1).await;
    assert_eq!(peer.expect(&[msg::DISCONNECT], QUIET).await, None);
    assert!(!peer.raw.server_task.is_finished());
}

/// The client gives the server no window for output and the application has filled the
/// session's event queue with output: a consumed notice must still go out at once (had it
/// queued behind the output, which waits for the client's window, while the client waits
/// for this one, neither side would ever move).
#[tokio::test]
async fn a_consumed_notice_does_not_wait_behind_output() {
    let mut peer = connect(true).await;
    peer.login().await;
    let (ch, mut channel) = peer.open(0).await;
    let id = channel.id();

    // Output the client has no window for: the first waits in the session, the rest fill
    // the event queue and then hold the writer.
    let output = {
        let handle = peer.handle.clone();
        tokio::spawn(async move {
            loop {
                if handle.data(id, vec![b'o'; 1024]).await.is_err() {
                    return;
                }
            }
        })
    };
    tokio::time::sleep(QUIET).await;
    assert!(!output.is_finished());

    peer.fill_window(ch).await;
    take(&mut channel, WINDOW as usize).await;
    tokio::time::timeout(SOON, peer.handle.consumed(id, WINDOW))
        .await
        .expect("the consumed notice waited")
        .unwrap();
    let adjust = peer
        .expect(&[msg::CHANNEL_WINDOW_ADJUST], SOON)
        .await
        .expect("no window adjust while output waits for the client's window");
    assert_eq!(adjusted(&adjust), WINDOW);
    output.abort();
}

/// Menwei patch: a user name that is not UTF-8 reaches the handler (with U+FFFD for the
/// bad bytes), which can refuse it with a message, instead of the connection dropping.
#[tokio::test]
async fn a_user_name_that_is_not_utf8_reaches_the_handler() {
    let mut peer = connect(true).await;
    peer.raw.service_request().await.unwrap();

    let mut auth = vec![MSG_USERAUTH_REQUEST];
    encode_string(&mut auth, b"al\xffice");
    encode_string(&mut auth, b"ssh-connection");
    encode_string(&mut auth, b"none");
    peer.raw.send_packet(&auth).await.unwrap();
    assert!(
        peer.expect(&[MSG_USERAUTH_SUCCESS], SOON).await.is_some(),
        "the connection did not get an answer to its login"
    );
    assert_eq!(*peer.users.lock().unwrap(), ["al\u{fffd}ice"]);
}

/// Menwei patch: when the server closes a channel first, the application's half learns
/// that the client closed it too and is released, instead of waiting until the whole
/// connection ends.
#[tokio::test]
async fn a_channel_the_server_closed_first_is_released_on_the_clients_close() {
    let mut peer = connect(true).await;
    peer.login().await;
    let (ch, mut channel) = peer.open(WINDOW).await;

    peer.handle.close(channel.id()).await.unwrap();
    let close = peer
        .expect(&[msg::CHANNEL_CLOSE], SOON)
        .await
        .expect("the server's close did not arrive");
    assert_eq!(BigEndian::read_u32(&close[1..5]), CLIENT_CHANNEL);

    let mut reply = vec![msg::CHANNEL_CLOSE];
    push_u32(&mut reply, ch);
    peer.raw.send_packet(&reply).await.unwrap();
    let mut saw_close = false;
    loop {
        match tokio::time::timeout(SOON, channel.wait()).await {
            Ok(Some(ChannelMsg::Close)) => saw_close = true,
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => panic!("the application's half of the channel was never released"),
        }
    }
    assert!(saw_close, "the application never saw the close");
    // The connection itself goes on: another channel opens.
    peer.open(WINDOW).await;
}
