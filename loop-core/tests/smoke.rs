use loop_core::net::{TcpListener, TcpStream};
use loop_core::{spawn, Runtime};
use std::time::{Duration, Instant};

#[test]
fn spawn_join_sleep_tcp() {
    let rt = Runtime::new().unwrap();
    let out = rt.block_on(async {
        let h = spawn(async { 40 + 2 });
        let v = h.await.unwrap();
        let t = Instant::now();
        loop_core::time::sleep(Duration::from_millis(30)).await;
        let slept = t.elapsed();
        let l = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let server = spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&buf[..n]).await.unwrap();
        });
        let c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).await.unwrap();
        server.await.unwrap();
        (v, slept, buf)
    });
    assert_eq!(out.0, 42);
    assert!(out.1 >= Duration::from_millis(30), "{:?}", out.1);
    assert_eq!(&out.2, b"hello");
}
