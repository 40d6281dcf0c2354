//! The app served over HTTPS (`spin up --tls-cert --tls-key`), with a private CA: exact answers
//! to a client that checks the certificate, a clean end for a plain-HTTP request to the TLS port,
//! and the certificates a client must refuse refused, not hidden.

use std::io::{ErrorKind, Read, Write};
use std::time::Instant;

use super::WELCOME;
use crate::support::app::{App, AppOptions};
use crate::support::https;
use crate::support::redis_server::RedisServer;
use crate::support::runtime::Target;
use crate::support::tls::{self, ServerCert};

pub fn https_answers_exactly_and_refuses_what_it_should(target: &Target) {
    let redis = RedisServer::start();
    let certs = tempfile::tempdir().expect("a temp dir for the certificates");
    let files = tls::write(certs.path(), ServerCert::Valid);
    let app = App::start(target, &AppOptions::on(&redis).https(&files));

    // The certificate names both 127.0.0.1 and localhost; the client checks it against the CA.
    for host in ["127.0.0.1", "localhost"] {
        let reply = app.https_get(host, "/").expect("GET / over HTTPS");
        reply.assert_text(200, WELCOME);
        reply.assert_plain_text();
    }
    for n in 1..=3 {
        let reply = app.https_get("127.0.0.1", "/count").expect("GET /count");
        reply.assert_text(200, &format!("Visit count: {n}"));
    }
    app.https_get("127.0.0.1", "/healthz")
        .expect("GET /healthz")
        .assert_text(200, "ok");

    // Plain HTTP to the TLS port: no HTTP answer, and the connection ends within the bound.
    let mut plain = https::connect(app.port).expect("connect");
    let start = Instant::now();
    plain
        .write_all(b"GET /count HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send a plain-HTTP request");
    let mut answer = Vec::new();
    // A close, or a reset (the server closed with the request unread): either ends it.
    let ended = match plain.read_to_end(&mut answer) {
        Ok(_) => "closed",
        Err(e) if e.kind() == ErrorKind::ConnectionReset => "reset",
        Err(e) => panic!(
            "a plain-HTTP request to the TLS port was neither answered nor closed within {:?} \
             ({e})",
            https::TIMEOUT
        ),
    };
    assert!(
        !answer.starts_with(b"HTTP/"),
        "the TLS port answered plain HTTP: {:?}",
        String::from_utf8_lossy(&answer)
    );
    eprintln!(
        "plain HTTP to the TLS port on {target}: {ended} after {:?}, {} bytes before",
        start.elapsed(),
        answer.len()
    );

    // What a client must refuse: a name the certificate does not carry, and a CA it does not
    // trust. The app is not the one to hide either.
    let wrong_host = app.https_get("counter.example", "/count");
    let err = wrong_host.expect_err("a certificate for another name is refused");
    assert!(err.starts_with("TLS handshake: "), "{err}");
    let strangers = tempfile::tempdir().expect("a temp dir");
    let other_ca = tls::write(strangers.path(), ServerCert::Valid).ca;
    let err = https::get(
        &https::connector(&other_ca),
        app.port,
        "127.0.0.1",
        "/count",
    )
    .expect_err("a certificate from an unknown CA is refused");
    assert!(err.starts_with("TLS handshake: "), "{err}");

    // Refused handshakes and the plain request counted nothing; the listener still serves.
    app.https_get("127.0.0.1", "/count")
        .expect("GET /count after the refusals")
        .assert_text(200, "Visit count: 4");
    assert_eq!(redis.get("visits").as_deref(), Some("4"));
}

pub fn https_expired_certificate_is_refused_by_the_client(target: &Target) {
    let redis = RedisServer::start();
    let certs = tempfile::tempdir().expect("a temp dir for the certificates");
    let files = tls::write(certs.path(), ServerCert::Expired);
    let app = App::start(target, &AppOptions::on(&redis).https(&files));

    let err = app
        .https_get("127.0.0.1", "/count")
        .expect_err("an expired certificate is refused");
    assert!(err.starts_with("TLS handshake: "), "{err}");
    assert!(err.contains("expired"), "the refusal says why: {err}");
    assert_eq!(redis.get("visits"), None, "nothing was counted");
}
