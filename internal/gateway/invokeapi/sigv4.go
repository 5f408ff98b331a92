package invokeapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Verifier checks AWS Signature Version 4 on Invoke API requests, with one
// configured access key.
type Verifier struct {
	AccessKeyID     string
	SecretAccessKey string
	// MaxSkew is the accepted clock difference (AWS: 15 minutes).
	MaxSkew time.Duration
}

const sigAlgorithm = "AWS4-HMAC-SHA256"

func sigError(typ, msg string) *Error { return &Error{Status: 403, Type: typ, Message: msg} }

// Verify checks the request's Authorization header against body. A nil
// result means the signature is valid.
func (v *Verifier) Verify(r *http.Request, body []byte, now time.Time) *Error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return sigError("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	rest, ok := strings.CutPrefix(auth, sigAlgorithm+" ")
	if !ok {
		return sigError("IncompleteSignatureException", "Authorization header requires the "+sigAlgorithm+" algorithm")
	}
	var credential, signedHeaders, signature string
	for _, part := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = val
		case "SignedHeaders":
			signedHeaders = val
		case "Signature":
			signature = val
		}
	}
	if credential == "" || signedHeaders == "" || signature == "" {
		return sigError("IncompleteSignatureException", "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'")
	}
	cp := strings.Split(credential, "/")
	if len(cp) != 5 || cp[4] != "aws4_request" {
		return sigError("IncompleteSignatureException", "Credential is malformed: "+credential)
	}
	if cp[0] != v.AccessKeyID {
		return sigError("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return sigError("IncompleteSignatureException", "X-Amz-Date is missing or malformed")
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = 15 * time.Minute
	}
	if d := now.Sub(t); d > skew || d < -skew {
		return sigError("InvalidSignatureException", "Signature expired: "+amzDate+" is now earlier than "+
			now.Add(-skew).UTC().Format("20060102T150405Z")+" ("+now.UTC().Format("20060102T150405Z")+" - 15 min.)")
	}
	if cp[1] != amzDate[:8] {
		return sigError("InvalidSignatureException", "Credential should be scoped to a valid date")
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" || payloadHash != "UNSIGNED-PAYLOAD" {
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])
		if payloadHash != "" && payloadHash != h {
			return sigError("InvalidSignatureException", "The provided X-Amz-Content-Sha256 header does not match what was computed.")
		}
		payloadHash = h
	}
	scope := strings.Join(cp[1:], "/")
	key := signingKey(v.SecretAccessKey, cp[1], cp[2], cp[3])
	headers := canonicalHeaders(r, signedHeaders)
	query := canonicalQuery(r.URL.RawQuery)
	escaped := r.URL.EscapedPath()
	if escaped == "" {
		escaped = "/"
	}
	// SDKs URI-encode the already escaped path once more (double encoding,
	// every service but S3); accept the single-encoded form too.
	for _, uri := range []string{escapePath(escaped), escaped} {
		creq := r.Method + "\n" + uri + "\n" + query + "\n" + headers + "\n" + signedHeaders + "\n" + payloadHash
		sum := sha256.Sum256([]byte(creq))
		sts := sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
		want := hex.EncodeToString(hmacSHA256(key, sts))
		if hmac.Equal([]byte(want), []byte(signature)) {
			return nil
		}
	}
	return sigError("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func canonicalHeaders(r *http.Request, signed string) string {
	var b strings.Builder
	for _, name := range strings.Split(signed, ";") {
		var vals []string
		switch name {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		default:
			vals = r.Header.Values(name)
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.Join(strings.Fields(v), " "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	vals, _ := url.ParseQuery(raw)
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range vals {
		for _, v := range vs {
			pairs = append(pairs, kv{uriEncode(k, true), uriEncode(v, true)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

func escapePath(p string) string { return uriEncode(p, false) }

// uriEncode encodes everything but unreserved characters (and '/' unless
// encodeSlash), as SigV4 specifies.
func uriEncode(s string, encodeSlash bool) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}
