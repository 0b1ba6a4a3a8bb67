//! A hostile national system, for the tests of what an upstream can do to the
//! gateway: a real HTTP server on a real socket (plain, or TLS with a certificate
//! nobody trusts) that logs the gateway in like the population API does and then
//! answers its lookups and the portal's feed the way the [`Rogue`] in force says —
//! a body that never ends, a slow drip, a lie about its length, another citizen's
//! record, a redirect, a compressed bomb, hidden text…
//!
//! It speaks HTTP/1.1 by hand, byte for byte, because a well-behaved HTTP library
//! would not let it misbehave.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lienthong_adapters::population::schema::{CongDan, CuTru};
use lienthong_proto::PersonalId;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How the server answers a lookup (or a page of the feed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rogue {
    /// A valid record of the citizen asked for.
    Honest,
    /// `200` and a JSON body that never ends, as fast as the socket takes it.
    Endless,
    /// A valid record, one byte a second.
    SlowDrip,
    /// `Content-Length` of a whole record, half of it sent, the connection held.
    HalfThenHold,
    /// Bytes that are not UTF-8 inside the JSON.
    InvalidUtf8,
    /// A valid record of another citizen.
    OtherCitizen,
    /// The name twice, with two values.
    DuplicateKeys,
    /// `302` to another host.
    Redirect,
    /// `Content-Length` of a terabyte, then a few bytes.
    HugeLength,
    /// `Content-Length` shorter than the body: the JSON is cut.
    ShortLength,
    /// 64 KiB of headers.
    HugeHeaders,
    /// An array nested 10,000 deep (20 KB: within the body bound).
    DeepJson,
    /// A gzip bomb: `Content-Encoding: gzip` and compressed zeros.
    Compressed,
    /// The name with a right-to-left override in it.
    HiddenText,
    /// A name of 21,000 characters, within the body bound.
    HugeString,
    /// A number that fits no integer where the sex code goes.
    BigNumber,
    /// The feed: a page that ends at the cursor asked for, saying more follow.
    SamePage,
    /// The feed: a page whose cursor goes back.
    Backwards,
}

/// A running hostile server.
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    rogue: Arc<Mutex<Rogue>>,
    /// Lookups and feed pages answered (token requests not counted).
    calls: Arc<std::sync::atomic::AtomicUsize>,
    task: JoinHandle<()>,
}

impl Server {
    /// Starts a plain HTTP server on a free loopback port.
    pub async fn start(rogue: Rogue) -> Server {
        Server::listen(rogue, None).await
    }

    /// Starts an HTTPS server whose certificate (self-signed, for `localhost`) no
    /// configured CA vouches for.
    pub async fn start_untrusted_tls(rogue: Rogue) -> Server {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("server config");
        Server::listen(
            rogue,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
        .await
    }

    async fn listen(rogue: Rogue, tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let rogue = Arc::new(Mutex::new(rogue));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let is_tls = tls.is_some();
        let (r, c) = (rogue.clone(), calls.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (r, c, tls) = (r.clone(), c.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(stream, r, c).await;
                            }
                        }
                        None => serve(tcp, r, c).await,
                    }
                });
            }
        });
        Server {
            addr,
            tls: is_tls,
            rogue,
            calls,
            task,
        }
    }

    /// `http://127.0.0.1:port` (or `https://localhost:port`).
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// Changes how the next answers go.
    pub fn set(&self, rogue: Rogue) {
        *self.rogue.lock().expect("rogue") = rogue;
    }

    /// Lookups and feed pages answered so far.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request: its path and body.
async fn request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1)?.to_owned();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1024 * 1024)];
    stream.read_exact(&mut body).await.ok()?;
    Some((path, body))
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    rogue: Arc<Mutex<Rogue>>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
) {
    while let Some((path, body)) = request(&mut stream).await {
        if path.ends_with("/xacthuc/token") || path.ends_with("/xacthuc") {
            // The portal's login answers a session; the population API's a token.
            let token = if path == lienthong_adapters::portal::dvcqg::LOGIN_PATH {
                r#"{"error_code":"0","message":"OK","session":"s"}"#
            } else {
                r#"{"MaKetQua":0,"ThongDiep":"OK","DuLieu":{"MaTruyCap":"t","ThoiHanGiay":3600}}"#
            };
            if respond(&mut stream, "200 OK", &[], token.as_bytes())
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let how = *rogue.lock().expect("rogue");
        let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let id = asked["SoDinhDanh"]
            .as_str()
            .unwrap_or("001085012345")
            .to_owned();
        if misbehave(&mut stream, how, &path, &id).await.is_err() {
            return;
        }
    }
}

/// The envelope of a valid record of `id` for `path` (citizen or residence).
fn record(path: &str, id: &str) -> serde_json::Value {
    let parsed = PersonalId::parse(id).expect("a valid ID");
    let today = lienthong_proto::today();
    let data = if path.contains("cutru") {
        let r = lienthong_adapters::sim::citizens::residence(&parsed, today).expect("registered");
        serde_json::to_value(CuTru::from(&r)).expect("json")
    } else {
        let c = lienthong_adapters::sim::citizens::citizen(&parsed, today).expect("registered");
        serde_json::to_value(CongDan::from(&c)).expect("json")
    };
    serde_json::json!({"MaKetQua": 0, "ThongDiep": "Thành công", "DuLieu": data})
}

async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\n");
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

async fn misbehave<S: AsyncWrite + Unpin>(
    stream: &mut S,
    how: Rogue,
    path: &str,
    id: &str,
) -> std::io::Result<()> {
    let honest = serde_json::to_vec(&record(path, id)).expect("json");
    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = record(path, id);
        edit(&mut v["DuLieu"]);
        serde_json::to_vec(&v).expect("json")
    };
    match how {
        Rogue::Honest => respond(stream, "200 OK", &[], &honest).await,
        Rogue::Endless => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            let chunk = format!("10000\r\n{}\r\n", "[".repeat(0x10000));
            stream.write_all(b"6\r\n{\"a\":[\r\n").await?;
            loop {
                stream.write_all(chunk.as_bytes()).await?;
            }
        }
        Rogue::SlowDrip => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                honest.len()
            );
            stream.write_all(head.as_bytes()).await?;
            for b in &honest {
                stream.write_all(&[*b]).await?;
                stream.flush().await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(())
        }
        Rogue::HalfThenHold => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                honest.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&honest[..honest.len() / 2]).await?;
            stream.flush().await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
        Rogue::InvalidUtf8 => {
            let body = String::from_utf8(honest)
                .expect("utf-8")
                .replace("Thành công", "\u{0}");
            let mut bytes = body.into_bytes();
            let at = bytes.iter().position(|b| *b == 0).expect("marker");
            bytes.splice(at..=at, [0xC3, 0x28, 0xFF]);
            respond(stream, "200 OK", &[], &bytes).await
        }
        Rogue::OtherCitizen => {
            let other = if id == "001085012345" {
                "079301012345"
            } else {
                "001085012345"
            };
            let body = serde_json::to_vec(&record(path, other)).expect("json");
            respond(stream, "200 OK", &[], &body).await
        }
        Rogue::DuplicateKeys => {
            let body = String::from_utf8(honest).expect("utf-8").replacen(
                "\"SoDinhDanh\":",
                "\"SoDinhDanh\":\"079301012345\",\"SoDinhDanh\":",
                1,
            );
            respond(stream, "200 OK", &[], body.as_bytes()).await
        }
        Rogue::Redirect => {
            let to = [(
                "location",
                "http://203.0.113.7/api/v1/congdan/tracuu".to_owned(),
            )];
            respond(stream, "302 Found", &to, &honest).await
        }
        Rogue::HugeLength => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000000000\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&honest).await?;
            stream.flush().await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
        Rogue::ShortLength => {
            let short = [("content-length", (honest.len() / 2).to_string())];
            respond(stream, "200 OK", &short, &honest).await
        }
        Rogue::HugeHeaders => {
            let headers: Vec<(&str, String)> =
                (0..64).map(|_| ("x-padding", "p".repeat(1024))).collect();
            respond(stream, "200 OK", &headers, &honest).await
        }
        Rogue::DeepJson => {
            let mut body = b"{\"MaKetQua\":0,\"ThongDiep\":\"\",\"DuLieu\":".to_vec();
            body.extend(std::iter::repeat_n(b'[', 10_000));
            body.extend(std::iter::repeat_n(b']', 10_000));
            body.push(b'}');
            respond(stream, "200 OK", &[], &body).await
        }
        Rogue::Compressed => {
            // A gzip member of 64 KiB of zeros deflated: it would inflate without end
            // if repeated, and the gateway must not even try.
            let bomb = [
                0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff, 0x63, 0x18, 0x05, 0xa3, 0x60, 0x14,
                0x0c, 0x77, 0x00, 0x00,
            ];
            let gzip = [("content-encoding", "gzip".to_owned())];
            respond(stream, "200 OK", &gzip, &bomb).await
        }
        Rogue::HiddenText => {
            let body = edited(&|d| {
                if d.get("HoVaTen").is_some() {
                    d["HoVaTen"] = "Nguyễn Văn \u{202E}nA".into();
                } else {
                    d["ThuongTru"]["ChiTiet"] = "Số 1 \u{202E}".into();
                }
            });
            respond(stream, "200 OK", &[], &body).await
        }
        Rogue::HugeString => {
            let body = edited(&|d| {
                if d.get("HoVaTen").is_some() {
                    d["HoVaTen"] = "Nguyễn ".repeat(3_000).into();
                } else {
                    d["ThuongTru"]["ChiTiet"] = "Số 1 ".repeat(10_000).into();
                }
            });
            respond(stream, "200 OK", &[], &body).await
        }
        Rogue::BigNumber => {
            let body = String::from_utf8(edited(&|d| {
                d["GioiTinh"] = "__BIG__".into();
                d["SoDinhDanhChuHo"] = "__BIG__".into();
            }))
            .expect("utf-8")
            .replace("\"__BIG__\"", "1e40");
            respond(stream, "200 OK", &[], body.as_bytes()).await
        }
        Rogue::SamePage | Rogue::Backwards => {
            let cursor = if how == Rogue::SamePage { "" } else { "0" };
            let page = serde_json::json!({"error_code": "0", "result": [feed_item(cursor)], "ConTiep": true});
            respond(
                stream,
                "200 OK",
                &[],
                &serde_json::to_vec(&page).expect("json"),
            )
            .await
        }
    }
}

/// One dossier of the feed at `cursor`.
fn feed_item(cursor: &str) -> serde_json::Value {
    use lienthong_adapters::portal::schema::HoSo;
    use lienthong_adapters::sim::dossiers::{RECEIVED, dossier};
    let d = dossier(
        "H99.01-261122-0001",
        lienthong_proto::v1::DossierStatus::Registered,
        RECEIVED,
    );
    serde_json::json!({"ConTro": cursor, "HoSo": HoSo::from(&d)})
}
