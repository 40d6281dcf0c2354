//! Certificates for HTTPS: scripts/make-cert.sh makes ones that load and verify, for the names
//! deploy/README.md uses, and no certificate or key is ever in git (deploy/compose/tls/ is
//! ignored, and no tracked file holds PEM material).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use deploy_checks::repo_root;

/// Runs a command from the repository root; panics with its output unless it succeeds.
fn run(program: &str, args: &[&str]) -> String {
    let output: Output = Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program} ({err}); is it installed?"));
    assert!(
        output.status.success(),
        "`{program} {}` failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("deploy-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn path(dir: &Path, file: &str) -> String {
    dir.join(file).display().to_string()
}

/// make-cert.sh into `dir` with `names`; returns its files after checking there are only
/// these three (the CA's key is thrown away) and the key is private.
fn make_cert(dir: &Path, names: &[&str]) -> (String, String, String) {
    let dir_arg = dir.display().to_string();
    let args: Vec<&str> = [dir_arg.as_str()]
        .into_iter()
        .chain(names.iter().copied())
        .collect();
    run("scripts/make-cert.sh", &args);
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("make-cert.sh made its directory")
        .map(|entry| entry.expect("an entry").file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["ca.pem", "server.key", "server.pem"],
        "no CA key left behind"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("server.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "server.key is readable by its owner only");
    (
        path(dir, "ca.pem"),
        path(dir, "server.pem"),
        path(dir, "server.key"),
    )
}

/// The value of the extension `name` of the certificate in `file`, as openssl prints it (the line
/// after the extension's name).
fn extension(file: &str, name: &str) -> String {
    let printed = run("openssl", &["x509", "-in", file, "-noout", "-ext", name]);
    let value = printed.lines().nth(1).map(str::trim);
    value
        .unwrap_or_else(|| panic!("{file} has no {name}: {printed:?}"))
        .to_string()
}

#[test]
fn make_cert_signs_a_server_certificate_for_loopback_that_its_ca_verifies() {
    let dir = scratch("loopback");
    let (ca, cert, key) = make_cert(&dir, &[]);
    // curl --cacert ca.pem https://127.0.0.1:5443/ and https://localhost:5443/ accept it.
    for check in [
        ["-verify_ip", "127.0.0.1"],
        ["-verify_hostname", "localhost"],
    ] {
        let verified = run(
            "openssl",
            &["verify", "-CAfile", &ca, check[0], check[1], &cert],
        );
        assert_eq!(verified.trim(), format!("{cert}: OK"));
    }
    let refused = Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            &ca,
            "-verify_hostname",
            "example.com",
            &cert,
        ])
        .output()
        .expect("openssl runs");
    assert!(
        !refused.status.success(),
        "the certificate names only 127.0.0.1 and localhost"
    );
    assert_eq!(
        extension(&cert, "subjectAltName"),
        "IP Address:127.0.0.1, DNS:localhost"
    );
    // The key is the certificate's: the same public key.
    let from_key = run("openssl", &["pkey", "-in", &key, "-pubout"]);
    let from_cert = run("openssl", &["x509", "-in", &cert, "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert);
    // A CA that signs, a server certificate that cannot.
    let ca_ext = extension(&ca, "basicConstraints");
    assert!(ca_ext.contains("CA:TRUE"), "{ca_ext}");
    let cert_ext = extension(&cert, "basicConstraints");
    assert!(cert_ext.contains("CA:FALSE"), "{cert_ext}");
    std::fs::remove_dir_all(&dir).expect("scratch removed");
}

#[test]
fn make_cert_takes_the_names_it_is_given() {
    let dir = scratch("named");
    let (ca, cert, _) = make_cert(&dir, &["counter.example.com"]);
    let verified = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            &ca,
            "-verify_hostname",
            "counter.example.com",
            &cert,
        ],
    );
    assert_eq!(verified.trim(), format!("{cert}: OK"));
    assert_eq!(
        extension(&cert, "subjectAltName"),
        "DNS:counter.example.com"
    );
    std::fs::remove_dir_all(&dir).expect("scratch removed");
}

#[test]
fn no_certificate_or_key_is_tracked_by_git() {
    let tracked = run("git", &["ls-files", "-z"]);
    assert!(
        !tracked
            .split('\0')
            .any(|file| file.starts_with("deploy/compose/tls/")),
        "deploy/compose/tls/ is tracked"
    );
    // What make-cert.sh writes by default is ignored, so `git add .` cannot pick it up.
    for file in ["ca.pem", "server.pem", "server.key"] {
        run(
            "git",
            &["check-ignore", "-q", &format!("deploy/compose/tls/{file}")],
        );
        run(
            "git",
            &[
                "check-ignore",
                "-q",
                &format!("deploy/kubernetes/local/tls/{file}"),
            ],
        );
    }
    // No PEM block (a certificate, a key) in any tracked file. Spelled in two halves, so this
    // file does not match itself.
    let marker = format!("-----{}", "BEGIN ");
    let grep = Command::new("git")
        .args(["grep", "-l", "-I", "-F", "-e", &marker])
        .current_dir(repo_root())
        .output()
        .expect("git grep runs");
    // git grep exits with 1 when nothing matches, 0 when something does.
    assert_eq!(
        grep.status.code(),
        Some(1),
        "PEM material in git: {}{}",
        String::from_utf8_lossy(&grep.stdout),
        String::from_utf8_lossy(&grep.stderr)
    );
}
