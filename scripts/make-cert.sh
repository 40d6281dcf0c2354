#!/usr/bin/env bash
# Makes a local certificate for HTTPS: a private CA and a server certificate signed by it, for
# trying TLS without a public CA. The CA's key is thrown away once it has signed, so the CA can
# sign nothing else: a client told to trust ca.pem (curl --cacert) trusts only this certificate.
#
#   scripts/make-cert.sh [DIR [NAME...]]
#
# DIR (default deploy/compose/tls, which git ignores) receives ca.pem, server.pem and
# server.key; files already there are replaced. The certificate is for the NAMEs, host names or
# IP addresses (default 127.0.0.1 and localhost), and is valid for 825 days.
set -euo pipefail

dir=${1:-deploy/compose/tls}
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(127.0.0.1 localhost)

command -v openssl >/dev/null || { echo "make-cert.sh: openssl is not installed" >&2; exit 1; }

alt_names=()
for name in "${names[@]}"; do
    if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
        alt_names+=("IP:$name")
    else
        alt_names+=("DNS:$name")
    fi
done
subject_alt_name=$(IFS=,; echo "${alt_names[*]}")

# Keys are readable by their owner only; the CA's never leaves this temporary directory.
umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A config of our own: `openssl req` otherwise needs the system's openssl.cnf.
cat > "$work/openssl.cnf" <<CONFIG
[req]
distinguished_name = subject
prompt = no
[subject]
CN = ${names[0]}
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $subject_alt_name
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CONFIG

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
serial() { echo "0x$(openssl rand -hex 16)"; }

new_key "$work/ca.key"
openssl req -new -x509 -config "$work/openssl.cnf" -subj "/CN=spin-redis-counter local CA" \
    -key "$work/ca.key" -days 825 -set_serial "$(serial)" -extensions ca -out "$work/ca.pem"

new_key "$work/server.key"
openssl req -new -config "$work/openssl.cnf" -key "$work/server.key" -out "$work/server.csr"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -set_serial "$(serial)" -days 825 -extfile "$work/openssl.cnf" -extensions server \
    -out "$work/server.pem" 2>/dev/null

mkdir -p "$dir"
# The certificates are public; only the key stays private.
chmod 644 "$work/ca.pem" "$work/server.pem"
mv -f "$work/ca.pem" "$work/server.pem" "$work/server.key" "$dir/"
echo "wrote $dir/ca.pem (trust this), $dir/server.pem and $dir/server.key, for ${names[*]}"
