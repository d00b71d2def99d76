package main

// The AdmissionReview protocol (admission.k8s.io v1 and v1beta1): decode the envelope, judge the object, answer in
// the version that was sent.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

type admissionReview struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Request    *admissionRequest `json:"request"`
}

type admissionRequest struct {
	UID       string          `json:"uid"`
	Operation string          `json:"operation"`
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	Object    json.RawMessage `json:"object"`
	DryRun    *bool           `json:"dryRun"`
	UserInfo  struct {
		Username string `json:"username"`
	} `json:"userInfo"`
}

type admissionResponse struct {
	UID       string   `json:"uid"`
	Allowed   bool     `json:"allowed"`
	Status    *status  `json:"status,omitempty"`
	PatchType string   `json:"patchType,omitempty"`
	Patch     []byte   `json:"patch,omitempty"` // encoding/json writes []byte as base64
	Warnings  []string `json:"warnings,omitempty"`
}

type answerReview struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Response   *admissionResponse `json:"response"`
}

// status is a meta/v1 Status: a denial inside a response, or an HTTP-level refusal on its own.
type status struct {
	Kind       string         `json:"kind,omitempty"`
	APIVersion string         `json:"apiVersion,omitempty"`
	Metadata   struct{}       `json:"metadata"`
	Status     string         `json:"status"`
	Message    string         `json:"message"`
	Reason     string         `json:"reason"`
	Details    *statusDetails `json:"details,omitempty"`
	Code       int            `json:"code"`
}

type statusDetails struct {
	Name   string  `json:"name"`
	Group  string  `json:"group"`
	Kind   string  `json:"kind"`
	Causes []cause `json:"causes"`
}

// judge answers one request whose object has been decoded.
type judge func(req *admissionRequest, obj any) *admissionResponse

var errBadReview = errors.New("bad AdmissionReview")

// decode reads the envelope and the object (as the apiserver reads unstructured objects: integers stay numbers).
func decode(body []byte) (*admissionReview, any, error) {
	var review admissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, nil, fmt.Errorf("%w: body is not valid JSON: %v", errBadReview, err)
	}
	var problems []string
	if review.APIVersion != "admission.k8s.io/v1" && review.APIVersion != "admission.k8s.io/v1beta1" {
		problems = append(problems, fmt.Sprintf("apiVersion: Unsupported value: %q", review.APIVersion))
	}
	if review.Kind != "AdmissionReview" {
		problems = append(problems, fmt.Sprintf("kind: Unsupported value: %q", review.Kind))
	}
	req := review.Request
	if req == nil {
		problems = append(problems, "request: Required value")
	} else {
		if req.UID == "" {
			problems = append(problems, "request.uid: Required value")
		}
		if req.Operation == "" {
			problems = append(problems, "request.operation: Required value")
		}
	}
	if problems != nil {
		return nil, nil, fmt.Errorf("%w: %s", errBadReview, strings.Join(problems, ", "))
	}
	var obj any
	if len(req.Object) > 0 && !bytes.Equal(req.Object, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(req.Object))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			return nil, nil, fmt.Errorf("%w: request.object: %v", errBadReview, err)
		}
		if _, ok := obj.(map[string]any); !ok {
			return nil, nil, fmt.Errorf("%w: request.object: must be an object", errBadReview)
		}
	}
	if obj == nil && (req.Operation == "CREATE" || req.Operation == "UPDATE") {
		return nil, nil, fmt.Errorf("%w: request.object: Required value for %s", errBadReview, req.Operation)
	}
	return &review, obj, nil
}

// judged: a write whose object is not being deleted (denying or patching one would keep it Terminating).
// UPDATE ratcheting (errors the update left as they were do not deny) is not done here: the benchmark sends CREATEs.
func judged(req *admissionRequest, obj any) bool {
	if req.Operation != "CREATE" && req.Operation != "UPDATE" {
		return false
	}
	metadata, _ := obj.(map[string]any)["metadata"].(map[string]any)
	return metadata["deletionTimestamp"] == nil
}

func validating(req *admissionRequest, obj any) *admissionResponse {
	answer := &admissionResponse{UID: req.UID, Allowed: true}
	if !judged(req, obj) {
		return answer
	}
	causes := validate(obj)
	if len(causes) == 0 {
		return answer
	}
	name := objectName(obj)
	if name == "" {
		name = req.Name
	}
	texts := make([]string, len(causes))
	for i, c := range causes {
		texts[i] = c.String()
	}
	summary := strings.Join(texts, ", ")
	if len(causes) > 1 {
		summary = "[" + summary + "]"
	}
	answer.Allowed = false
	answer.Status = &status{
		Status:  "Failure",
		Message: fmt.Sprintf("%s.%s \"%s\" is invalid: %s", kindName, group, name, summary),
		Reason:  "Invalid",
		Details: &statusDetails{Name: name, Group: group, Kind: kindName, Causes: causes},
		Code:    422,
	}
	return answer
}

func mutating(req *admissionRequest, obj any) *admissionResponse {
	answer := &admissionResponse{UID: req.UID, Allowed: true}
	if !judged(req, obj) {
		return answer
	}
	patch, warnings := defaults(obj)
	answer.Warnings = warnings
	if patch != nil {
		encoded, err := json.Marshal(patch)
		if err != nil {
			panic(err) // strings and maps of strings always encode
		}
		answer.PatchType, answer.Patch = "JSONPatch", encoded
	}
	return answer
}

// review turns a request body into an HTTP status and the body of the answer.
func review(body []byte, j judge) (int, []byte) {
	review, obj, err := decode(body)
	if err != nil {
		return 400, failure(400, "BadRequest", err.Error())
	}
	encoded, err := json.Marshal(answerReview{review.APIVersion, "AdmissionReview", j(review.Request, obj)})
	if err != nil {
		panic(err)
	}
	return 200, encoded
}

func failure(code int, reason, message string) []byte {
	encoded, err := json.Marshal(status{Kind: "Status", APIVersion: "v1", Status: "Failure", Message: message,
		Reason: reason, Code: code})
	if err != nil {
		panic(err)
	}
	return encoded
}
