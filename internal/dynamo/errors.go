package dynamo

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
	"github.com/edgeserverlessbox/esb/internal/dynamo/expr"
)

// Error type prefixes, as DynamoDB sends them in __type.
const (
	prefixDynamo   = "com.amazonaws.dynamodb.v20120810#"
	prefixValidate = "com.amazon.coral.validate#"
	prefixService  = "com.amazon.coral.service#"
)

// APIError is an error answered to the client in DynamoDB's shape:
// {"__type": "<prefix>#<Name>", "message": "..."} with an HTTP status.
type APIError struct {
	Status  int
	Type    string // full __type
	Message string
	// Reasons are a TransactionCanceledException's CancellationReasons.
	Reasons []CancellationReason
	// Item is returned with ConditionalCheckFailedException when asked for.
	Item attr.Item
}

func (e *APIError) Error() string { return e.Type + ": " + e.Message }

// Name returns the exception name without its prefix.
func (e *APIError) Name() string {
	for i := len(e.Type) - 1; i >= 0; i-- {
		if e.Type[i] == '#' {
			return e.Type[i+1:]
		}
	}
	return e.Type
}

// CancellationReason is one entry of TransactionCanceledException.CancellationReasons.
type CancellationReason struct {
	Code    string    `json:"Code"`
	Message string    `json:"Message,omitempty"`
	Item    attr.Item `json:"Item,omitempty"`
}

func validation(format string, a ...any) *APIError {
	msg := format
	if len(a) > 0 {
		msg = fmt.Sprintf(format, a...)
	}
	return &APIError{Status: http.StatusBadRequest, Type: prefixValidate + "ValidationException", Message: msg}
}

func validationText(msg string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: prefixValidate + "ValidationException", Message: msg}
}

func dynamoErr(name, msg string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: prefixDynamo + name, Message: msg}
}

func serialization(msg string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: prefixService + "SerializationException", Message: msg}
}

func notFound() *APIError {
	return dynamoErr("ResourceNotFoundException", "Requested resource not found")
}

func conditionFailed(item attr.Item) *APIError {
	e := dynamoErr("ConditionalCheckFailedException", "The conditional request failed")
	e.Item = item
	return e
}

func internal(err error) *APIError {
	return &APIError{Status: http.StatusInternalServerError, Type: prefixDynamo + "InternalServerError", Message: "Internal server error: " + err.Error()}
}

// toAPIError maps any error from decoding, expressions or the engine to the
// error the client sees.
func toAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	var ve *attr.Error
	if errors.As(err, &ve) {
		if ve.Kind == attr.Validation {
			return validationText(ve.Msg)
		}
		return serialization(ve.Msg)
	}
	var ee *expr.Error
	if errors.As(err, &ee) {
		return validationText(ee.Msg)
	}
	return internal(err)
}

// notNull is DynamoDB's message for a missing required parameter.
func notNull(field string) *APIError {
	return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

func validTableName(field, name string) *APIError {
	if name == "" {
		return notNull(field)
	}
	if len(name) < 3 {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to 3", name, field)
	}
	if len(name) > 255 {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 255", name, field)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", name, field)
		}
	}
	return nil
}
