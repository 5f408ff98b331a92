package dynamo

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// verifier checks AWS Signature Version 4 on requests.
type verifier struct {
	secrets map[string]string
	region  string
	mu      sync.Mutex
	keys    map[string][]byte // access key + date → signing key
}

func newVerifier(creds map[string]string, region string) *verifier {
	return &verifier{secrets: creds, region: region, keys: map[string][]byte{}}
}

func authErr(name, msg string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: prefixService + name, Message: msg}
}

const maxSkew = 15 * time.Minute

func (v *verifier) verify(r *http.Request, body []byte, now time.Time) error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return authErr("MissingAuthenticationTokenException", "Request is missing Authentication Token")
	}
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return authErr("IncompleteSignatureException", "Authorization header requires AWS4-HMAC-SHA256 signature")
	}
	var cred, signed, sig string
	for _, part := range strings.Split(auth[len(algo):], ",") {
		part = strings.TrimSpace(part)
		switch {
		case strings.HasPrefix(part, "Credential="):
			cred = part[len("Credential="):]
		case strings.HasPrefix(part, "SignedHeaders="):
			signed = part[len("SignedHeaders="):]
		case strings.HasPrefix(part, "Signature="):
			sig = part[len("Signature="):]
		}
	}
	if cred == "" || signed == "" || sig == "" {
		return authErr("IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters")
	}
	cp := strings.Split(cred, "/")
	if len(cp) != 5 || cp[4] != "aws4_request" {
		return authErr("IncompleteSignatureException", "Credential should be scoped to a valid region, service and terminated by 'aws4_request'")
	}
	akid, date, region, service := cp[0], cp[1], cp[2], cp[3]
	secret, ok := v.secrets[akid]
	if !ok {
		return authErr("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return authErr("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header")
	}
	if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		return authErr("InvalidSignatureException", "Signature expired: "+amzDate+" is now earlier than "+now.Add(-maxSkew).UTC().Format("20060102T150405Z")+" ("+now.UTC().Format("20060102T150405Z")+" - 15 min.)")
	}
	if !strings.HasPrefix(amzDate, date) {
		return authErr("InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP")
	}
	if region != v.region {
		return authErr("InvalidSignatureException", "Credential should be scoped to a valid region. ")
	}

	// Canonical request.
	var cr strings.Builder
	cr.Grow(512)
	cr.WriteString(r.Method)
	cr.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	cr.WriteString(path)
	cr.WriteByte('\n')
	cr.WriteString(canonicalQuery(r))
	cr.WriteByte('\n')
	names := strings.Split(signed, ";")
	for _, n := range names {
		cr.WriteString(n)
		cr.WriteByte(':')
		cr.WriteString(headerValue(r, n))
		cr.WriteByte('\n')
	}
	cr.WriteByte('\n')
	cr.WriteString(signed)
	cr.WriteByte('\n')
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	cr.WriteString(payload)

	crHash := sha256.Sum256([]byte(cr.String()))
	scope := date + "/" + region + "/" + service + "/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crHash[:])
	want := hex.EncodeToString(hmacSHA256(v.signingKey(akid, secret, date, region, service), sts))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return authErr("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	if payload != "UNSIGNED-PAYLOAD" && r.Header.Get("X-Amz-Content-Sha256") != "" {
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != payload {
			return authErr("InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	return nil
}

func (v *verifier) signingKey(akid, secret, date, region, service string) []byte {
	ck := akid + "/" + date + "/" + region + "/" + service
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.keys[ck]; ok {
		return k
	}
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	if len(v.keys) > 1000 {
		clear(v.keys)
	}
	v.keys[ck] = k
	return k
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		return strconv.FormatInt(r.ContentLength, 10)
	}
	vals := r.Header.Values(name)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

func canonicalQuery(r *http.Request) string {
	q := r.URL.Query()
	if len(q) == 0 {
		return ""
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, uriEncode(k)+"="+uriEncode(v))
		}
	}
	return strings.Join(parts, "&")
}

func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}
