package main

// The ConnectionPool rules, declared as a table in the order of webhook/connectionpool.py's SCHEMA, and checked
// the way the kube-apiserver checks a CRD's OpenAPI schema: null counts as absent, an integer is an integer literal
// that fits in int64 or a whole number within +-(2**53 - 1), lengths count code points, a value of the wrong type
// gets one error and nothing below it (but an enum still reports it as unsupported), and required fields are
// reported after the properties' own errors. Messages are worded as the newest Kubernetes words them.

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

type kind int

const (
	stringKind kind = iota
	integerKind
	booleanKind
	objectKind
)

var typeNames = [...]string{stringKind: "string", integerKind: "integer", booleanKind: "boolean", objectKind: "object"}

type field struct {
	name           string
	kind           kind
	required       bool
	requiredDetail string // said after "Required value"
	blankIsMissing bool   // "" is reported as missing (metadata.name)
	minLength      int    // 0: no rule
	maxLength      int    // 0: no rule
	enum           []string
	properties     []field
}

const (
	group      = "aiven.io"
	apiVersion = "aiven.io/v1alpha1"
	kindName   = "ConnectionPool"
)

var connectionPool = []field{
	{name: "apiVersion", kind: stringKind, required: true, enum: []string{apiVersion}},
	{name: "kind", kind: stringKind, required: true, enum: []string{kindName}},
	{name: "metadata", kind: objectKind, required: true, properties: []field{
		{name: "name", kind: stringKind, required: true, blankIsMissing: true,
			requiredDetail: "name or generateName is required"},
		{name: "namespace", kind: stringKind},
	}},
	{name: "spec", kind: objectKind, required: true, properties: []field{
		{name: "databaseName", kind: stringKind, required: true, maxLength: 40},
		{name: "project", kind: stringKind, required: true, maxLength: 63},
		{name: "serviceName", kind: stringKind, required: true, maxLength: 63},
		{name: "username", kind: stringKind, required: true, maxLength: 64},
		{name: "poolMode", kind: stringKind, enum: []string{"session", "transaction", "statement"}},
		{name: "poolSize", kind: integerKind},
		{name: "authSecretRef", kind: objectKind, properties: []field{
			{name: "key", kind: stringKind, minLength: 1},
			{name: "name", kind: stringKind, minLength: 1},
		}},
		{name: "connInfoSecretTarget", kind: objectKind, properties: []field{
			{name: "name", kind: stringKind, required: true},
		}},
	}},
}

// cause is one field error, as a Status cause carries it.
type cause struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (c cause) String() string { return c.Field + ": " + c.Message }

// validate returns every rule violation in obj (a value decoded with UseNumber), in declaration order.
func validate(obj any) []cause {
	var errs []cause
	checkValue(obj, "", field{kind: objectKind, properties: connectionPool}, &errs)
	return errs
}

func checkProperties(obj map[string]any, prefix string, properties []field, errs *[]cause) {
	missing := func(f field) bool { value := obj[f.name]; return value == nil || (f.blankIsMissing && value == "") }
	for _, f := range properties {
		if !missing(f) {
			checkValue(obj[f.name], prefix+f.name, f, errs)
		}
	}
	for _, f := range properties {
		if f.required && missing(f) {
			message := "Required value"
			if f.requiredDetail != "" {
				message += ": " + f.requiredDetail
			}
			*errs = append(*errs, cause{"FieldValueRequired", message, prefix + f.name})
		}
	}
}

func checkValue(value any, path string, f field, errs *[]cause) {
	if found := jsonType(value); found != typeNames[f.kind] && !(f.kind == integerKind && wholeNumber(value)) {
		q := strconv.Quote(found)
		message := fmt.Sprintf("Invalid value: %s: %s in body must be of type %s: %s", q, path, typeNames[f.kind], q)
		*errs = append(*errs, cause{"FieldValueTypeInvalid", message, path})
		if len(f.enum) > 0 {
			*errs = append(*errs, notSupported(path, value, f.enum))
		}
		return
	}
	switch f.kind {
	case stringKind:
		s := value.(string)
		switch {
		case len(f.enum) > 0 && !slices.Contains(f.enum, s):
			*errs = append(*errs, notSupported(path, value, f.enum))
		case f.maxLength > 0 && utf8.RuneCountInString(s) > f.maxLength:
			unit := "bytes"
			if f.maxLength == 1 {
				unit = "byte"
			}
			message := fmt.Sprintf("Too long: may not be more than %d %s", f.maxLength, unit)
			*errs = append(*errs, cause{"FieldValueTooLong", message, path})
		case f.minLength > 0 && utf8.RuneCountInString(s) < f.minLength:
			message := fmt.Sprintf("Invalid value: %s: %s in body should be at least %d chars long",
				shown(value), path, f.minLength)
			*errs = append(*errs, cause{"FieldValueInvalid", message, path})
		}
	case objectKind:
		prefix := ""
		if path != "" {
			prefix = path + "."
		}
		checkProperties(value.(map[string]any), prefix, f.properties, errs)
	}
}

func notSupported(path string, value any, enum []string) cause {
	quoted := make([]string, len(enum))
	for i, v := range enum {
		quoted[i] = strconv.Quote(v)
	}
	message := fmt.Sprintf("Unsupported value: %s: supported values: %s", shown(value), strings.Join(quoted, ", "))
	return cause{"FieldValueNotSupported", message, path}
}

// wholeNumber: a number that is not an int64 literal but passes kube-openapi's integer check all the same (1.0, 1e3).
func wholeNumber(value any) bool {
	n, ok := value.(json.Number)
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return err == nil && f == math.Trunc(f) && math.Abs(f) <= 1<<53-1
}

// jsonType names a decoded value's OpenAPI type; an integer literal beyond int64 is a "number", as the apiserver's
// decoder reads it.
func jsonType(value any) string {
	switch v := value.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// maxShown: a bad value longer than this is cut in messages, so a 7 MiB string does not come back 7 MiB long.
const maxShown = 256

// shown is a bad value as field errors print it: strings quoted, numbers and booleans bare, the rest as JSON.
func shown(value any) string {
	switch v := value.(type) {
	case string:
		if utf8.RuneCountInString(v) > maxShown {
			runes := []rune(v)
			return fmt.Sprintf("%s...(%d more characters)", strconv.Quote(string(runes[:maxShown])), len(runes)-maxShown)
		}
		return strconv.Quote(v)
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	default:
		encoded, _ := json.Marshal(v)
		return string(encoded)
	}
}

// patchOp is one JSON Patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

const nameNotYetSet = "metadata.name is not set yet (generateName), so spec.connInfoSecretTarget.name was not defaulted"

// defaults: spec.connInfoSecretTarget.name defaults to metadata.name. Only absent paths are added, as deep as
// needed (an "add" on an existing path would replace it); objects too malformed to default are left to validation.
func defaults(obj any) (patch []patchOp, warnings []string) {
	root, _ := obj.(map[string]any)
	spec, ok := root["spec"].(map[string]any)
	if !ok {
		return nil, nil
	}
	target, present := spec["connInfoSecretTarget"], spec["connInfoSecretTarget"] != nil
	targetMap, isMap := target.(map[string]any)
	if present && (!isMap || targetMap["name"] != nil) {
		return nil, nil
	}
	name := objectName(obj)
	switch {
	case name == "":
		return nil, []string{nameNotYetSet}
	case !present:
		return []patchOp{{"add", "/spec/connInfoSecretTarget", map[string]string{"name": name}}}, nil
	default:
		return []patchOp{{"add", "/spec/connInfoSecretTarget/name", name}}, nil
	}
}

// objectName is metadata.name when it is a string, else "".
func objectName(obj any) string {
	root, _ := obj.(map[string]any)
	metadata, _ := root["metadata"].(map[string]any)
	name, _ := metadata["name"].(string)
	return name
}
