package gw

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gofiber/fiber/v3"
	"github.com/versity/versitygw/auth"
	"github.com/versity/versitygw/backend"
	"github.com/versity/versitygw/embedgw"
	"github.com/versity/versitygw/s3api/utils"
	"github.com/versity/versitygw/s3err"
)

// Sub-resource kinds served by BucketConfigs.
const (
	KindLifecycle    = "lifecycle"
	KindNotification = "notification"
)

// BucketConfigs stores the bucket sub-resources (lifecycle, notification) that
// versitygw does not implement. Errors that carry an S3 error code implement
// APIError and are sent to the client as S3 error documents.
type BucketConfigs interface {
	// Put validates and stores body as the bucket's configuration of kind.
	Put(ctx context.Context, bucket, kind string, body []byte) error
	// Get returns the stored configuration document of kind.
	Get(ctx context.Context, bucket, kind string) ([]byte, error)
	// Delete removes the configuration of kind.
	Delete(ctx context.Context, bucket, kind string) error
	// DeleteBucket forgets every configuration of a bucket that was deleted.
	DeleteBucket(ctx context.Context, bucket string) error
}

// APIError is an error with an S3 error code and HTTP status.
type APIError interface {
	error
	S3Code() string
	HTTPStatus() int
}

// originalPathKey is the fiber local versitygw's SigV4 check reads the
// on-the-wire path from when a virtual-host request was rewritten to path
// style (internal/httpctx.ContextKeyOriginalURIPath in versitygw 1.8). The
// virtual-host integration tests fail if a newer versitygw renames it.
const originalPathKey = "original-uri-path"

// front is the middleware esb mounts before versitygw's S3 routes.
type front struct {
	domains []string
	configs BucketConfigs
	be      backend.Backend
	presign fiber.Handler
	sigv4   fiber.Handler
	log     *slog.Logger
}

// newIAM builds the single-account IAM service from the root credentials, so
// the front and versitygw verify signatures against the same accounts.
func newIAM(cfg *embedgw.Config) (auth.IAMService, error) {
	iam, err := auth.New(cfg.IamOpts())
	if err != nil {
		return nil, errors.New("set up credentials: " + err.Error())
	}
	return singleAccount{iam}, nil
}

// singleAccount answers an unknown access key the way S3 does (403
// InvalidAccessKeyId); versitygw's single-account IAM answers it with its
// admin API's 404 XAdminUserNotFound.
type singleAccount struct{ auth.IAMService }

func (s singleAccount) GetUserAccount(access string) (auth.Account, error) {
	a, err := s.IAMService.GetUserAccount(access)
	if err != nil {
		return auth.Account{}, auth.ErrNoSuchUser
	}
	return a, nil
}

// VirtualHostBucket returns the bucket named by a virtual-host-style Host
// header ("photos.s3-storage:9000" → "photos") for one of domains, or "".
func VirtualHostBucket(host string, domains []string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	host = strings.ToLower(host)
	for _, d := range domains {
		if len(host) > len(d)+1 && strings.HasSuffix(host, d) && host[len(host)-len(d)-1] == '.' {
			return host[:len(host)-len(d)-1]
		}
	}
	return ""
}

func (f *front) handle(c fiber.Ctx) error {
	raw := string(c.Request().URI().PathOriginal())
	if len(f.domains) > 0 {
		if bucket := VirtualHostBucket(string(c.Request().Header.Host()), f.domains); bucket != "" {
			// versitygw signs the decoded path (its own parser runs after
			// DecodeURL), so the original is stored decoded as well.
			decoded, err := url.PathUnescape(raw)
			if err != nil {
				return f.sendError(c, &s3err.APIError{Code: "InvalidURI", Description: "Couldn't parse the specified URI.", HTTPStatusCode: http.StatusBadRequest})
			}
			c.Locals(originalPathKey, decoded)
			p := "/" + bucket
			if raw != "/" && raw != "" {
				p += raw
			}
			c.Path(p)
			raw = p
		}
	}
	if f.configs == nil {
		return c.Next()
	}
	bucket, rest, _ := strings.Cut(strings.TrimPrefix(raw, "/"), "/")
	if bucket == "" || rest != "" {
		return c.Next()
	}
	args := c.Request().URI().QueryArgs()
	kind := ""
	switch {
	case args.Has(KindLifecycle):
		kind = KindLifecycle
	case args.Has(KindNotification):
		kind = KindNotification
	}
	method := c.Method()
	if kind != "" && (method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete) {
		return f.serveConfig(c, bucket, kind)
	}
	if method == http.MethodDelete && args.Len() == 0 {
		err := c.Next()
		if c.Response().StatusCode() == http.StatusNoContent {
			if derr := f.configs.DeleteBucket(c.Context(), bucket); derr != nil {
				f.log.Error("s3: forget configuration of deleted bucket", "bucket", bucket, "err", derr)
			}
		}
		return err
	}
	return c.Next()
}

// serveConfig answers Get/Put/Delete of a lifecycle or notification
// configuration after the same signature checks versitygw applies.
func (f *front) serveConfig(c fiber.Ctx, bucket, kind string) error {
	for _, check := range []fiber.Handler{f.presign, f.sigv4} {
		if err := check(c); err != nil {
			return f.sendError(c, err)
		}
	}
	ctx := c.Context()
	if _, err := f.be.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err != nil {
		return f.sendError(c, err)
	}
	switch c.Method() {
	case http.MethodPut:
		if err := f.configs.Put(ctx, bucket, kind, c.Body()); err != nil {
			return f.sendError(c, err)
		}
		f.log.Info("s3: bucket configuration stored", "bucket", bucket, "kind", kind)
		utils.EnsureRequestIDs(c)
		return c.SendStatus(http.StatusOK)
	case http.MethodDelete:
		if err := f.configs.Delete(ctx, bucket, kind); err != nil {
			return f.sendError(c, err)
		}
		utils.EnsureRequestIDs(c)
		return c.SendStatus(http.StatusNoContent)
	default:
		body, err := f.configs.Get(ctx, bucket, kind)
		if err != nil {
			return f.sendError(c, err)
		}
		utils.EnsureRequestIDs(c)
		c.Response().Header.SetContentType("application/xml")
		return c.Status(http.StatusOK).Send(body)
	}
}

func (f *front) sendError(c fiber.Ctx, err error) error {
	reqID, hostID := utils.EnsureRequestIDs(c)
	c.Response().Header.SetContentType("application/xml")
	var s3e s3err.S3Error
	if errors.As(err, &s3e) {
		return c.Status(s3e.StatusCode()).Send(s3e.XMLBody(reqID, hostID))
	}
	var ours APIError
	if errors.As(err, &ours) {
		e := s3err.APIError{Code: ours.S3Code(), Description: ours.Error(), HTTPStatusCode: ours.HTTPStatus()}
		return c.Status(e.HTTPStatusCode).Send(e.XMLBody(reqID, hostID))
	}
	f.log.Error("s3: bucket configuration request failed", "path", c.Path(), "err", err)
	e := s3err.GetAPIError(s3err.ErrInternalError)
	return c.Status(e.HTTPStatusCode).Send(e.XMLBody(reqID, hostID))
}
