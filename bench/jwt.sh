# shellcheck shell=bash
# Helpers for bench/run.sh: the keys of a made-up OIDC issuer, its JWKS file and ID tokens signed
# with them, all with the openssl command line (RS256 with an RSA-2048 key, ES256 with an EC P-256
# key). Sourced, not executed.

# Prints stdin as unpadded base64url (RFC 4648 section 5), as JOSE writes it.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# Writes hex digits read on stdin as the bytes they spell.
hex_to_bytes() { printf '%b' "$(tr -d '\n' | sed 's/../\\x&/g')"; }

# Writes rsa.pem (RSA-2048, kid rsa-1) and ec.pem (EC P-256, kid ec-1) in directory $1, and
# jwks.json listing their public halves.
make_issuer_keys() {
  local d=$1 n xy
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:65537 \
    -out "$d/rsa.pem" 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/ec.pem" 2>/dev/null
  n=$(openssl rsa -in "$d/rsa.pem" -noout -modulus | sed 's/^Modulus=//' | hex_to_bytes | b64url)
  # A P-256 SubjectPublicKeyInfo ends with the uncompressed point 04 || x || y.
  xy=$(openssl pkey -in "$d/ec.pem" -pubout -outform DER | tail -c 64 | od -An -v -tx1 | tr -d ' \n')
  cat >"$d/jwks.json" <<EOF
{"keys": [
  {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": "$n", "e": "AQAB"},
  {"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256",
   "x": "$(hex_to_bytes <<<"${xy:0:64}" | b64url)", "y": "$(hex_to_bytes <<<"${xy:64:64}" | b64url)"}
]}
EOF
}

# Reads an ECDSA-Sig-Value (DER, as openssl dgst writes it) on stdin and writes JOSE's 64-byte
# r || s: each INTEGER left-padded (or stripped of its sign byte) to 32 bytes.
ecdsa_der_to_raw() {
  openssl asn1parse -inform DER 2>/dev/null | awk -F: '/INTEGER/ {
      v = $NF; while (length(v) < 64) v = "0" v; printf "%s", substr(v, length(v) - 63) }' | hex_to_bytes
}

# Prints a compact JWT with payload $3 (JSON), signed with the key of directory $1 that algorithm
# $2 (RS256 or ES256) names.
mint_token() {
  local d=$1 alg=$2 payload=$3 key kid input
  case $alg in
    RS256) key=$d/rsa.pem kid=rsa-1 ;;
    ES256) key=$d/ec.pem kid=ec-1 ;;
    *) echo "mint_token: unsupported algorithm $alg" >&2; return 1 ;;
  esac
  input="$(printf '{"typ":"JWT","alg":"%s","kid":"%s"}' "$alg" "$kid" | b64url).$(printf '%s' "$payload" | b64url)"
  if [ "$alg" = ES256 ]; then
    printf '%s.%s\n' "$input" "$(printf '%s' "$input" | openssl dgst -sha256 -sign "$key" | ecdsa_der_to_raw | b64url)"
  else
    printf '%s.%s\n' "$input" "$(printf '%s' "$input" | openssl dgst -sha256 -sign "$key" | b64url)"
  fi
}

# Prints the claims of a GitHub Actions ID token for a push to main of acme/app, issued by $1 for
# audience $2 and valid for the next $3 seconds.
ci_claims() {
  local now
  now=$(date +%s)
  printf '{"iss":"%s","aud":"%s","sub":"repo:acme/app:ref:refs/heads/main","repository":"acme/app",' "$1" "$2"
  printf '"ref":"refs/heads/main","sha":"3f2a9c1e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39","run_id":"9812345678",'
  printf '"run_attempt":"1","actor":"jane","workflow":"migrate","event_name":"push",'
  printf '"iat":%d,"nbf":%d,"exp":%d}' "$now" "$((now - 5))" "$((now + $3))"
}
