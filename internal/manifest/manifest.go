// Package manifest defines the files that `esb build` writes and the daemons read:
// functions.yml, routing.yml and resources.yml. They are the contract between build
// and run; nothing but these types should read or write them.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// File names inside <output_dir>/config/.
const (
	FunctionsFile = "functions.yml"
	RoutingFile   = "routing.yml"
	ResourcesFile = "resources.yml"
)

// Functions is the content of functions.yml.
type Functions struct {
	Functions map[string]Function `yaml:"functions"`
}

// Function describes one deployable function: its image and how to run it.
type Function struct {
	// LogicalID is the function's logical id in the template.
	LogicalID string `yaml:"logical_id,omitempty"`
	// Image is the fully qualified image reference, e.g. "esb-hello:latest".
	Image string `yaml:"image"`
	// Runtime is the Lambda runtime identifier ("python3.12", "provided.al2023").
	// Empty for PackageType Image.
	Runtime string `yaml:"runtime,omitempty"`
	// Handler is the handler string passed to the runtime ("app.handler").
	Handler string `yaml:"handler,omitempty"`
	// CodeURI is the code directory, relative to the template's directory.
	CodeURI string `yaml:"code_uri,omitempty"`
	// BuildMethod is Metadata.BuildMethod ("go1.x": the image builder compiles
	// CodeURI with `go build` into /var/task/bootstrap); empty means copy as is.
	BuildMethod string `yaml:"build_method,omitempty"`
	// PackageType is "Zip" (default) or "Image".
	PackageType string `yaml:"package_type,omitempty"`
	// ImageURI is the source image of a PackageType Image function.
	ImageURI string `yaml:"image_uri,omitempty"`
	// ImageConfig overrides entrypoint/command/workdir for PackageType Image.
	ImageConfig *ImageConfig `yaml:"image_config,omitempty"`
	// Timeout is the function timeout in seconds.
	Timeout int `yaml:"timeout"`
	// MemorySize is the memory limit in MB.
	MemorySize int `yaml:"memory_size"`
	// EphemeralStorage is the size of /tmp in MB.
	EphemeralStorage int `yaml:"ephemeral_storage,omitempty"`
	// Environment holds the function's own variables (Environment.Variables).
	Environment map[string]string `yaml:"environment,omitempty"`
	// Layers are layer content directories, relative to the template's directory,
	// in the order they are extracted into /opt.
	Layers []Layer `yaml:"layers,omitempty"`
	// Architectures is the one-element list from the template ("x86_64" or "arm64").
	Architectures []string `yaml:"architectures,omitempty"`
	// Scaling bounds the function's worker pool.
	Scaling Scaling `yaml:"scaling"`
	// Alias is AutoPublishAlias, when set.
	Alias string `yaml:"alias,omitempty"`
	// Events are the function's event sources, as declared.
	Events []Event `yaml:"events,omitempty"`
}

// ImageConfig mirrors SAM's ImageConfig for PackageType Image.
type ImageConfig struct {
	EntryPoint       []string `yaml:"entrypoint,omitempty"`
	Command          []string `yaml:"command,omitempty"`
	WorkingDirectory string   `yaml:"working_directory,omitempty"`
}

// Layer is one AWS::Serverless::LayerVersion used by a function.
type Layer struct {
	Name       string `yaml:"name"`
	ContentURI string `yaml:"content_uri"`
}

// Scaling is a function's pool size: MaxCapacity from ReservedConcurrentExecutions
// (else the configured default), MinCapacity from ProvisionedConcurrencyConfig.
type Scaling struct {
	MaxCapacity int `yaml:"max_capacity"`
	MinCapacity int `yaml:"min_capacity"`
}

// Event is one entry of a function's Events.
type Event struct {
	Name string `yaml:"name"`
	// Type is the SAM event type: Api, HttpApi, Schedule, S3, ...
	Type string `yaml:"type"`
	// Api / HttpApi
	Path   string `yaml:"path,omitempty"`
	Method string `yaml:"method,omitempty"`
	// Schedule
	Schedule string `yaml:"schedule,omitempty"`
	Input    string `yaml:"input,omitempty"`
	Enabled  *bool  `yaml:"enabled,omitempty"`
	// Timezone is ScheduleV2's ScheduleExpressionTimezone (an IANA name);
	// empty means UTC.
	Timezone string `yaml:"timezone,omitempty"`
	// RuleName is the Name of the schedule (the EventBridge rule or
	// Scheduler schedule); empty means <function logical id><event name>.
	RuleName string `yaml:"rule_name,omitempty"`
	// S3
	Bucket string       `yaml:"bucket,omitempty"`
	S3     []string     `yaml:"s3_events,omitempty"`
	Filter []FilterRule `yaml:"filter,omitempty"`
}

// FilterRule is an S3 key filter rule (prefix or suffix).
type FilterRule struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// API kinds of a route.
const (
	APIRest = "rest" // API Gateway REST API, payload format 1.0
	APIHTTP = "http" // API Gateway HTTP API, payload format 2.0 by default
)

// MethodAny matches every method not explicitly routed on the same path.
const MethodAny = "any"

// Routing is the content of routing.yml.
type Routing struct {
	// API is the default API kind when a route does not say ("rest" or "http").
	API string `yaml:"api"`
	// Routes are sorted so that the more specific path wins, as API Gateway matches.
	Routes []Route `yaml:"routes"`
}

// Route maps one method and path to a function.
type Route struct {
	// Path is an API Gateway path template: "/users/{id}", "/{proxy+}".
	Path string `yaml:"path"`
	// Method is lower-case ("get", "post", ...) or "any".
	Method string `yaml:"method"`
	// Function is the function name (a key of Functions.Functions).
	Function string `yaml:"function"`
	// API is "rest" or "http"; empty means Routing.API.
	API string `yaml:"api,omitempty"`
	// PayloadFormat is "1.0" or "2.0"; empty means 1.0 for rest and 2.0 for http.
	PayloadFormat string `yaml:"payload_format,omitempty"`
	// Public routes need no Authorization header.
	Public bool `yaml:"public,omitempty"`
	// TimeoutMs is the integration timeout (HttpApi TimeoutInMillis); 0 = default.
	TimeoutMs int `yaml:"timeout_ms,omitempty"`
}

// Resources is the content of resources.yml: what `esb up` provisions.
type Resources struct {
	Tables  []Table  `yaml:"tables,omitempty"`
	Buckets []Bucket `yaml:"buckets,omitempty"`
}

// Table is a DynamoDB table from AWS::DynamoDB::Table or AWS::Serverless::SimpleTable.
type Table struct {
	LogicalID              string                `yaml:"logical_id"`
	Name                   string                `yaml:"name"`
	KeySchema              []KeyElement          `yaml:"key_schema"`
	AttributeDefinitions   []AttributeDefinition `yaml:"attribute_definitions"`
	BillingMode            string                `yaml:"billing_mode,omitempty"`
	ProvisionedThroughput  *Throughput           `yaml:"provisioned_throughput,omitempty"`
	GlobalSecondaryIndexes []SecondaryIndex      `yaml:"global_secondary_indexes,omitempty"`
	LocalSecondaryIndexes  []SecondaryIndex      `yaml:"local_secondary_indexes,omitempty"`
	TTL                    *TTL                  `yaml:"ttl,omitempty"`
	StreamViewType         string                `yaml:"stream_view_type,omitempty"`
}

// KeyElement is one element of a key schema.
type KeyElement struct {
	AttributeName string `yaml:"attribute_name"`
	KeyType       string `yaml:"key_type"` // HASH or RANGE
}

// AttributeDefinition declares a key attribute's type.
type AttributeDefinition struct {
	AttributeName string `yaml:"attribute_name"`
	AttributeType string `yaml:"attribute_type"` // S, N or B
}

// Throughput is a provisioned read/write capacity.
type Throughput struct {
	ReadCapacityUnits  int64 `yaml:"read_capacity_units"`
	WriteCapacityUnits int64 `yaml:"write_capacity_units"`
}

// SecondaryIndex is a GSI or an LSI.
type SecondaryIndex struct {
	IndexName             string       `yaml:"index_name"`
	KeySchema             []KeyElement `yaml:"key_schema"`
	ProjectionType        string       `yaml:"projection_type"` // ALL, KEYS_ONLY, INCLUDE
	NonKeyAttributes      []string     `yaml:"non_key_attributes,omitempty"`
	ProvisionedThroughput *Throughput  `yaml:"provisioned_throughput,omitempty"`
}

// TTL is a table's TimeToLiveSpecification.
type TTL struct {
	AttributeName string `yaml:"attribute_name"`
	Enabled       bool   `yaml:"enabled"`
}

// Bucket is an S3 bucket from AWS::S3::Bucket.
type Bucket struct {
	LogicalID     string          `yaml:"logical_id"`
	Name          string          `yaml:"name"`
	Versioning    string          `yaml:"versioning,omitempty"` // Enabled, Suspended or empty
	Lifecycle     []LifecycleRule `yaml:"lifecycle,omitempty"`
	CORS          []CORSRule      `yaml:"cors,omitempty"`
	Notifications []Notification  `yaml:"notifications,omitempty"`
}

// LifecycleRule is one rule of a bucket's LifecycleConfiguration.
type LifecycleRule struct {
	ID                                 string            `yaml:"id,omitempty"`
	Status                             string            `yaml:"status"` // Enabled or Disabled
	Prefix                             string            `yaml:"prefix,omitempty"`
	Tags                               map[string]string `yaml:"tags,omitempty"`
	ExpirationInDays                   int               `yaml:"expiration_in_days,omitempty"`
	ExpirationDate                     string            `yaml:"expiration_date,omitempty"` // RFC 3339
	NoncurrentVersionExpirationInDays  int               `yaml:"noncurrent_version_expiration_in_days,omitempty"`
	AbortIncompleteMultipartUploadDays int               `yaml:"abort_incomplete_multipart_upload_days,omitempty"`
	ExpiredObjectDeleteMarker          bool              `yaml:"expired_object_delete_marker,omitempty"`
}

// CORSRule is one rule of a bucket's CorsConfiguration.
type CORSRule struct {
	ID             string   `yaml:"id,omitempty"`
	AllowedMethods []string `yaml:"allowed_methods"`
	AllowedOrigins []string `yaml:"allowed_origins"`
	AllowedHeaders []string `yaml:"allowed_headers,omitempty"`
	ExposedHeaders []string `yaml:"exposed_headers,omitempty"`
	MaxAge         int      `yaml:"max_age,omitempty"`
}

// Notification is one bucket notification target (recorded, not yet delivered).
type Notification struct {
	Type     string       `yaml:"type"` // lambda, queue, topic, eventbridge
	Event    string       `yaml:"event,omitempty"`
	Function string       `yaml:"function,omitempty"`
	Target   string       `yaml:"target,omitempty"`
	Filter   []FilterRule `yaml:"filter,omitempty"`
}

// Load reads a YAML manifest file into v. A missing file is reported with the
// hint to run `esb build`.
func Load(path string, v any) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: file not found (run `esb build` first)", path)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// Save writes v as YAML to path atomically (write to a temporary file, then rename),
// so a reader never sees half a file.
func Save(path string, v any) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return WriteFileAtomic(path, buf.Bytes(), 0o644)
}

// WriteFileAtomic writes data to a temporary file beside path and renames it over path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
