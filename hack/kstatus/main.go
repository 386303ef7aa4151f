// Command kstatus reads Kubernetes objects as JSON on stdin and prints what kstatus
// (sigs.k8s.io/cli-utils/pkg/kstatus/status, the library Flux, kpt and `kubectl wait`-style
// tools use to decide whether an object is done) computes for each, so hack/kstatus.test.ts can
// check that the conditions Crescendo's controllers write read the way the operator means them.
//
// Input: one JSON array of objects, or a stream of JSON objects. Output: one JSON array, in
// input order, of {"status": "...", "message": "..."}; an object kstatus cannot read yields
// {"error": "..."} in its place rather than stopping the whole run.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func main() {
	objects, err := readObjects(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(objects))
	for _, obj := range objects {
		results = append(results, compute(obj))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func compute(obj map[string]interface{}) result {
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		return result{Error: err.Error()}
	}
	return result{Status: res.Status.String(), Message: res.Message}
}

// readObjects accepts a JSON array of objects or a stream of objects.
func readObjects(r io.Reader) ([]map[string]interface{}, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var objects []map[string]interface{}
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return objects, nil
		} else if err != nil {
			return nil, err
		}
		var list []map[string]interface{}
		if len(raw) > 0 && raw[0] == '[' {
			if err := unmarshal(raw, &list); err != nil {
				return nil, err
			}
		} else {
			var one map[string]interface{}
			if err := unmarshal(raw, &one); err != nil {
				return nil, err
			}
			list = []map[string]interface{}{one}
		}
		for _, obj := range list {
			objects = append(objects, normalize(obj).(map[string]interface{}))
		}
	}
}

func unmarshal(raw []byte, into interface{}) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(into)
}

// normalize turns json.Number into int64 (or float64), the types unstructured's accessors
// (NestedInt64 for generation and observedGeneration) expect, as the apiserver client does.
func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	case []interface{}:
		for i, e := range t {
			t[i] = normalize(e)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	default:
		return v
	}
}
