//! The HTTP client against raw loopback sockets: timeouts, refused connections,
//! and both ways through a proxy.

use std::time::Duration;

use http::header::HeaderMap;
use hyper_util::client::proxy::matcher::Matcher;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::client::{Chunks, Source};
use super::{Client, TransportError, usable_proxies};

/// Long enough that no healthy exchange on loopback meets it; short enough to
/// keep the tests quick. Nothing asserts how long anything took.
const READ_TIMEOUT: Duration = Duration::from_millis(300);

fn client(proxies: Matcher) -> Client {
    Client::new(Duration::from_secs(5), READ_TIMEOUT, proxies).unwrap()
}

fn direct() -> Client {
    client(Matcher::builder().build())
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap().to_string();
    (listener, at)
}

/// Reads one request head (through the blank line) from `socket`.
async fn read_head(socket: &mut TcpStream) -> String {
    next_head(socket).await.expect("head cut short")
}

/// The next request head on `socket`; `None` if the client closed it first.
async fn next_head(socket: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.unwrap() == 0 {
            assert!(head.is_empty(), "head cut short");
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8(head).unwrap())
}

#[tokio::test]
async fn an_answer_whose_head_never_comes_times_out() {
    let (listener, at) = listener().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        read_head(&mut socket).await;
        // Returned, the socket stays open, answering nothing, until awaited.
        socket
    });
    let uri = format!("http://{at}/v1/chat/completions").parse().unwrap();
    let err = direct()
        .post(uri, HeaderMap::new(), b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout), "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn a_body_that_stalls_times_out_after_what_arrived() {
    let (listener, at) = listener().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let head = read_head(&mut socket).await;
        // Every request names the gateway.
        assert!(head.contains("user-agent: switchyard/"), "{head}");
        let answer = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                      transfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n";
        socket.write_all(answer.as_bytes()).await.unwrap();
        // Returned, the socket stays open, sending nothing more, until awaited.
        socket
    });
    let uri = format!("http://{at}/v1/chat/completions").parse().unwrap();
    let mut response = direct()
        .post(uri, HeaderMap::new(), b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.chunk().await.unwrap().unwrap(), "first");
    let err = response.chunk().await.unwrap_err();
    assert!(matches!(err, TransportError::Timeout), "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn a_body_cut_off_midway_is_a_body_error_and_a_refused_dial_a_connect_error() {
    let (listener, at) = listener().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        read_head(&mut socket).await;
        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this";
        socket.write_all(answer.as_bytes()).await.unwrap();
        // Dropping the socket ends the body 91 bytes early.
    });
    let client = direct();
    let uri = format!("http://{at}/v1/embeddings").parse().unwrap();
    let mut stream = client
        .post(uri, HeaderMap::new(), b"{}".to_vec())
        .await
        .unwrap()
        .bytes_stream();
    server.await.unwrap();
    let mut got = Vec::new();
    let err = loop {
        match futures::StreamExt::next(&mut stream).await {
            Some(Ok(data)) => got.extend_from_slice(&data),
            Some(Err(e)) => break e,
            None => panic!("a truncated body ended cleanly"),
        }
    };
    assert_eq!(got, b"only this");
    assert!(matches!(err, TransportError::Body(_)), "{err:?}");
    assert!(futures::StreamExt::next(&mut stream).await.is_none());

    // The listener is gone: nothing accepts at that address now.
    let uri = format!("http://{at}/v1/embeddings").parse().unwrap();
    let err = client
        .post(uri, HeaderMap::new(), b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Dial(_)), "{err:?}");
    // What the operator's log says about it.
    let cause = crate::error::cause_chain(&err);
    assert!(cause.starts_with("connect failed: "), "{cause}");
    assert!(cause.contains("refused"), "{cause}");
}

#[tokio::test]
async fn plain_http_goes_to_the_proxy_in_absolute_form_with_its_credentials() {
    let (proxy, proxy_at) = listener().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = proxy.accept().await.unwrap();
        let head = read_head(&mut socket).await;
        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        socket.write_all(answer.as_bytes()).await.unwrap();
        head
    });
    // "user:pass" in base64; the upstream's port is never dialled.
    let proxies = Matcher::builder()
        .http(format!("http://user:pass@{proxy_at}"))
        .build();
    let uri = "http://upstream.test:8000/v1/chat/completions"
        .parse()
        .unwrap();
    let mut response = client(proxies)
        .post(uri, HeaderMap::new(), b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(response.chunk().await.unwrap().unwrap(), "ok");
    let head = server.await.unwrap().to_ascii_lowercase();
    assert!(
        head.starts_with("post http://upstream.test:8000/v1/chat/completions http/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("proxy-authorization: basic dxnlcjpwyxnz\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn https_tunnels_through_the_proxy_and_no_proxy_hosts_are_dialled_directly() {
    let (proxy, proxy_at) = listener().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = proxy.accept().await.unwrap();
        let head = read_head(&mut socket).await;
        // Refuse the tunnel: TLS to the provider cannot be emulated here, and the
        // CONNECT itself is what this test is about.
        let answer = "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n";
        socket.write_all(answer.as_bytes()).await.unwrap();
        head
    });
    let (upstream, upstream_at) = listener().await;
    let direct_server = tokio::spawn(async move {
        let (mut socket, _) = upstream.accept().await.unwrap();
        let head = read_head(&mut socket).await;
        let answer = "HTTP/1.1 204 No Content\r\n\r\n";
        socket.write_all(answer.as_bytes()).await.unwrap();
        head
    });
    let proxies = Matcher::builder()
        .all(format!("http://user:pass@{proxy_at}"))
        .no("127.0.0.1")
        .build();
    let client = client(proxies);

    let uri = "https://api.provider.test/v1/messages".parse().unwrap();
    let err = client
        .post(uri, HeaderMap::new(), b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Connect(_)), "{err:?}");
    let head = server.await.unwrap().to_ascii_lowercase();
    assert!(
        head.starts_with("connect api.provider.test:443 http/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("proxy-authorization: basic dxnlcjpwyxnz\r\n"),
        "{head}"
    );

    let uri = format!("http://{upstream_at}/v1/messages").parse().unwrap();
    let response = client
        .post(uri, HeaderMap::new(), b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let head = direct_server.await.unwrap().to_ascii_lowercase();
    assert!(head.starts_with("post /v1/messages http/1.1\r\n"), "{head}");
    assert!(!head.contains("proxy-authorization"), "{head}");
}

#[test]
fn only_http_proxies_are_accepted_at_start_up() {
    let none = Matcher::builder().build();
    assert!(usable_proxies(&none).is_ok());
    let http = Matcher::builder().all("http://proxy.internal:3128").build();
    assert!(usable_proxies(&http).is_ok());
    let socks = Matcher::builder()
        .https("socks5://proxy.internal:1080")
        .build();
    let err = usable_proxies(&socks).unwrap_err().to_string();
    assert!(
        err.contains("HTTPS_PROXY") && err.contains("`socks5://`"),
        "{err}"
    );
}

/// One HTTP/1.1 connection to `at`, driven on its own task: the pool's
/// connections, without the pool, so whether it stays usable can be awaited.
async fn connection(at: &str) -> Sender {
    let io = hyper_util::rt::TokioIo::new(TcpStream::connect(at).await.unwrap());
    let (sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    sender
}

fn get(at: &str) -> http::Request<http_body_util::Empty<bytes::Bytes>> {
    http::Request::get(format!("http://{at}/stream"))
        .body(http_body_util::Empty::new())
        .unwrap()
}

const STREAM_HEAD: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>;

/// A stream whose server sends `event`; the client reads it through [`Chunks`]
/// and drops the body; only then does the server go on with `then` on the same
/// socket. Returns the client's connection, its address and the server task.
async fn drop_after_event<F, Fut>(
    event: &'static str,
    then: F,
) -> (Sender, String, tokio::task::JoinHandle<()>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (listener, at) = listener().await;
    let (dropped, after_drop) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        read_head(&mut socket).await;
        let frame = format!("{STREAM_HEAD}{:x}\r\n{event}\r\n", event.len());
        socket.write_all(frame.as_bytes()).await.unwrap();
        after_drop.await.unwrap();
        then(socket).await;
    });
    let mut sender = connection(&at).await;
    let response = sender.send_request(get(&at)).await.unwrap();
    let mut body = Chunks::new(Source::Pooled(response.into_body()), READ_TIMEOUT);
    let got = futures::StreamExt::next(&mut body).await.unwrap().unwrap();
    assert_eq!(got, event);
    drop(body);
    dropped.send(()).unwrap();
    (sender, at, server)
}

/// A stream read to its last event and dropped before the body's terminating
/// chunk arrived: the body is read to its end, so the connection serves the next
/// request instead of being closed.
#[tokio::test]
async fn a_stream_dropped_at_its_last_event_keeps_its_connection() {
    let (mut sender, at, server) = drop_after_event("data: [DONE]\n\n", |mut socket| async move {
        // The end of the body comes only after the reader let go of it.
        socket.write_all(b"0\r\n\r\n").await.unwrap();
        // The next request arrives on the same connection.
        assert!(read_head(&mut socket).await.starts_with("GET "));
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
    })
    .await;
    sender.ready().await.expect("the connection was kept");
    let second = sender.send_request(get(&at)).await.unwrap();
    assert_eq!(second.status(), 200);
    server.await.unwrap();
}

/// A stream dropped midway, with more of the answer coming: its connection is
/// closed (what tells a provider to stop generating), not drained.
#[tokio::test]
async fn a_stream_abandoned_midway_closes_its_connection() {
    let (mut sender, _, server) =
        drop_after_event("data: {\"n\":1}\n\n", |mut socket| async move {
            // More of the answer than the end of a body.
            let more = format!("data: {}\n\n", "x".repeat(200));
            let chunk = format!("{:x}\r\n{more}\r\n", more.len());
            // The client may have closed already; either way it reads no further.
            let _ = socket.write_all(chunk.as_bytes()).await;
            let mut rest = Vec::new();
            let _ = socket.read_to_end(&mut rest).await;
        })
        .await;
    assert!(sender.ready().await.is_err(), "the connection was closed");
    server.await.unwrap();
}

/// A server that accepts connections one after another and answers `answers`
/// requests on them with one event each, `data: n` counting over all
/// connections; with `close`, each answer says `connection: close` and its
/// connection ends. It returns how many requests each connection carried.
async fn keep_alive_server(
    answers: usize,
    close: bool,
) -> (String, tokio::task::JoinHandle<Vec<usize>>) {
    let (listener, at) = listener().await;
    let server = tokio::spawn(async move {
        let mut served = 0;
        let mut per_connection = Vec::new();
        while served < answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut here = 0;
            while served < answers && !(close && here == 1) {
                let Some(head) = next_head(&mut socket).await else {
                    break;
                };
                let head = head.to_ascii_lowercase();
                assert!(
                    head.starts_with("post /v1/chat/completions http/1.1\r\n"),
                    "{head}"
                );
                assert!(head.contains("\r\nhost: 127.0.0.1:"), "{head}");
                let length: usize = head
                    .split("\r\n")
                    .find_map(|line| line.strip_prefix("content-length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                let mut body = vec![0u8; length];
                socket.read_exact(&mut body).await.unwrap();
                served += 1;
                here += 1;
                let event = format!("data: {served}\n\n");
                let head = if close {
                    STREAM_HEAD.replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n")
                } else {
                    STREAM_HEAD.to_string()
                };
                let answer = format!("{head}{:x}\r\n{event}\r\n0\r\n\r\n", event.len());
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
            per_connection.push(here);
        }
        per_connection
    });
    (at, server)
}

/// Three requests through the client against [`keep_alive_server`], each
/// answer read to its end; how many requests each connection carried.
/// The server waits for each next request on the connection it holds, so a
/// client that wrongly dialled anew would wait forever: the guard ends that.
async fn three_answers(close: bool) -> Vec<usize> {
    tokio::time::timeout(STUCK, three_answers_unguarded(close))
        .await
        .expect("stuck: a kept connection was not reused")
}

/// Long past any healthy exchange on loopback; only a stuck test meets it.
const STUCK: Duration = Duration::from_secs(30);

async fn three_answers_unguarded(close: bool) -> Vec<usize> {
    let (at, server) = keep_alive_server(3, close).await;
    let client = direct();
    let uri: http::Uri = format!("http://{at}/v1/chat/completions").parse().unwrap();
    for n in 1..=3 {
        let response = client
            .post(uri.clone(), HeaderMap::new(), b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = super::read_limited(response, 1024, "test").await.unwrap();
        assert_eq!(body, format!("data: {n}\n\n").as_bytes());
    }
    server.await.unwrap()
}

/// Plain-HTTP answers read to their end leave their connection for the next
/// request: three requests, one connection.
#[tokio::test]
async fn a_plain_http_connection_serves_request_after_request() {
    assert_eq!(three_answers(false).await, vec![3]);
}

/// Answers that close their connection: each next request dials a new one.
#[tokio::test]
async fn a_connection_its_answer_closed_is_not_reused() {
    assert_eq!(three_answers(true).await, vec![1, 1, 1]);
}

/// A plain-HTTP stream dropped at its last event is read to its end in the
/// background and its connection kept; one abandoned midway closes its own.
#[tokio::test]
async fn plain_http_streams_keep_or_close_their_connection_as_pooled_ones_do() {
    let (listener, at) = listener().await;
    let (dropped, after_drop) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        read_head(&mut socket).await;
        let event = "data: [DONE]\n\n";
        let frame = format!("{STREAM_HEAD}{:x}\r\n{event}\r\n", event.len());
        socket.write_all(frame.as_bytes()).await.unwrap();
        after_drop.await.unwrap();
        socket.write_all(b"0\r\n\r\n").await.unwrap();
        // The second request comes on the same connection; its stream is
        // abandoned after its first event.
        read_head(&mut socket).await;
        let event = "data: {\"n\":1}\n\n";
        let frame = format!("{STREAM_HEAD}{:x}\r\n{event}\r\n", event.len());
        socket.write_all(frame.as_bytes()).await.unwrap();
        let mut rest = Vec::new();
        // The client closes the connection: the read ends, with nothing after
        // the request's own body.
        let _ = socket.read_to_end(&mut rest).await;
        rest
    });
    let client = direct();
    let uri: http::Uri = format!("http://{at}/v1/chat/completions").parse().unwrap();
    let mut first = client
        .post(uri.clone(), HeaderMap::new(), b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(first.chunk().await.unwrap().unwrap(), "data: [DONE]\n\n");
    drop(first);
    dropped.send(()).unwrap();
    // The dropped stream is read to its end on a task of its own, which puts its
    // connection back; let it run until it has (bounded, never timed).
    for _ in 0..10_000 {
        if client.idle_connections() == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        client.idle_connections(),
        1,
        "the drained connection was kept"
    );
    let mut second = client
        .post(uri, HeaderMap::new(), b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        second.chunk().await.unwrap().unwrap(),
        "data: {\"n\":1}\n\n"
    );
    drop(second);
    assert_eq!(server.await.unwrap(), b"{}");
}
