// Command kubeyaml-oracle prints what Go's standard library makes of a list of inputs, for the functions that
// webhook/kubeyaml.py re-implements: strconv's parsing and float formatting, encoding/json's float and string
// output, and encoding/base64's standard decoding. It reads {"table name": [input, ...], ...} on stdin and writes
// {"table name": [[input, output], ...], ...} on stdout; tests/test_kubeyaml.py keeps that output as a golden file
// (tests/data/kubeyaml-go-oracle.json) and checks that this program still prints it.
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// float32Key is how sigs.k8s.io/yaml's convertToJSONableObject writes a float64 map key: FormatFloat with
// bitSize 32, then go-yaml's spellings of the infinities and NaN.
func float32Key(in string) any {
	v, err := strconv.ParseFloat(in, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return map[string]string{"error": err.Error()}
	}
	s := strconv.FormatFloat(v, 'g', -1, 32)
	switch s {
	case "+Inf":
		s = ".inf"
	case "-Inf":
		s = "-.inf"
	case "NaN":
		s = ".nan"
	}
	return s
}

// parseUint is strconv.ParseUint(in, 0, 64): the value, or null and whether the failure was a range error.
func parseUint(in string) any {
	v, err := strconv.ParseUint(in, 0, 64)
	if err != nil {
		return map[string]any{"value": nil, "range": errors.Is(err, strconv.ErrRange)}
	}
	return map[string]any{"value": v, "range": false}
}

// parseInt is strconv.ParseInt(in, 0, 64): the value or null.
func parseInt(in string) any {
	v, err := strconv.ParseInt(in, 0, 64)
	if err != nil {
		return nil
	}
	return v
}

// parseBase2 is go-yaml v2 resolve.go's reading of the digits after "0b": ParseInt(in, 2, 64), else
// ParseUint(in, 2, 64), else null.
func parseBase2(in string) any {
	if v, err := strconv.ParseInt(in, 2, 64); err == nil {
		return v
	}
	if v, err := strconv.ParseUint(in, 2, 64); err == nil {
		return v
	}
	return nil
}

// jsonFloat is encoding/json's text for the float64 that ParseFloat reads from in.
func jsonFloat(in string) any {
	v, err := strconv.ParseFloat(in, 64)
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	out, err := json.Marshal(v)
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	return string(out)
}

// binary is go-yaml v2 decode.go's reading of a !!binary scalar into interface{} (base64.StdEncoding, then a Go
// string of the bytes), as encoding/json writes that string.
func binary(in string) any {
	data, err := base64.StdEncoding.DecodeString(in)
	if err != nil {
		return map[string]string{"error": "invalid base64"}
	}
	out, err := json.Marshal(string(data))
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	return string(out)
}

// timestamp is go-yaml v2 resolve.go's parseTimestamp: four digits and a dash, then the first of its
// allowedTimestampFormats that time.Parse accepts.
func timestamp(in string) any {
	i := 0
	for i < len(in) && in[i] >= '0' && in[i] <= '9' {
		i++
	}
	if i != 4 || i == len(in) || in[i] != '-' {
		return false
	}
	for _, format := range []string{"2006-1-2T15:4:5.999999999Z07:00", "2006-1-2t15:4:5.999999999Z07:00",
		"2006-1-2 15:4:5.999999999", "2006-1-2"} {
		if _, err := time.Parse(format, in); err == nil {
			return true
		}
	}
	return false
}

// jsonError is encoding/json's error for a document kubectl reads from a JSON stream ("" when there is none).
func jsonError(in string) any {
	var v any
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		return err.Error()
	}
	return ""
}

var tables = map[string]func(string) any{
	"timestamp":   timestamp,
	"json_error":  jsonError,
	"float32_key": float32Key,
	"parse_uint":  parseUint,
	"parse_int":   parseInt,
	"parse_base2": parseBase2,
	"json_float":  jsonFloat,
	"binary":      binary,
}

func main() {
	var inputs map[string][]string
	if err := json.NewDecoder(os.Stdin).Decode(&inputs); err != nil {
		fmt.Fprintln(os.Stderr, "reading the inputs:", err)
		os.Exit(2)
	}
	out := map[string][][2]any{}
	for name, list := range inputs {
		fn, ok := tables[name]
		if !ok {
			fmt.Fprintln(os.Stderr, "no such table:", name)
			os.Exit(2)
		}
		rows := make([][2]any, 0, len(list))
		for _, in := range list {
			rows = append(rows, [2]any{in, fn(in)})
		}
		out[name] = rows
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "writing the table:", err)
		os.Exit(2)
	}
}
