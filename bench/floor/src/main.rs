//! The floor of the load bench: a hyper HTTP/1.1 server that reads each
//! request body whole and answers 200 with the success XML. No decoding, no
//! rules, no limits, no timeouts: what no camrelay-shaped server on this
//! machine can beat. Same runtime shape as `camrelay run` (tokio, 2 workers,
//! TCP_NODELAY on accepted sockets) so the comparison is about the work done.
//!
//! Usage: floor [LISTEN] [WORKERS]   (default 127.0.0.1:0 and 2; WORKERS 0 runs
//! everything on one thread, tokio's current-thread runtime; prints `listening on ADDR`)

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;

const SUCCESS_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><config version=\"1.0\" xmlns=\"http://www.ipc.com/ver10\"><status>success</status></config>";

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the body whole into one buffer sized from Content-Length, as any
    // server that looks at it must (and as camrelay's ingest does).
    let mut body = req.into_body();
    let mut buf = BytesMut::with_capacity(body.size_hint().exact().unwrap_or(0) as usize);
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
    std::hint::black_box(&buf);
    let mut resp = Response::new(Full::new(Bytes::from_static(SUCCESS_XML.as_bytes())));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    Ok(resp)
}

fn main() -> std::io::Result<()> {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let workers: usize = std::env::args().nth(2).and_then(|w| w.parse().ok()).unwrap_or(2);
    let runtime = if workers == 0 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?
    };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    })
}
