// Renders a Helm chart the way `helm template` does, for the tests, where no helm binary can be installed: Go's
// text/template (Helm's own engine) over every file in templates/, named templates shared, with the values, the
// release and the chart as Helm passes them, and the few Helm/Sprig functions the chart uses. Values come as JSON on
// stdin (the test reads values.yaml and applies overrides).
//
//	go run main.go <chart-dir> <release-name> <namespace> < values.json
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

func main() {
	chartDir, release, namespace := os.Args[1], os.Args[2], os.Args[3]
	var values map[string]interface{}
	if err := json.NewDecoder(os.Stdin).Decode(&values); err != nil {
		fail("values: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		fail("templates: %v", err)
	}
	sort.Strings(files)
	root := template.New("chart").Option("missingkey=zero")
	root.Funcs(functions(root))
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			fail("%s: %v", file, err)
		}
		if _, err := root.New(filepath.Base(file)).Parse(string(text)); err != nil {
			fail("%s: %v", file, err)
		}
	}
	data := map[string]interface{}{
		"Values":  values,
		"Release": map[string]interface{}{"Name": release, "Namespace": namespace, "Service": "Helm"},
		"Chart":   map[string]interface{}{"Name": "cognitionos"},
	}
	for _, file := range files {
		name := filepath.Base(file)
		if strings.HasPrefix(name, "_") {
			continue
		}
		var out bytes.Buffer
		if err := root.ExecuteTemplate(&out, name, data); err != nil {
			fail("%s: %v", name, err)
		}
		fmt.Printf("---\n# Source: cognitionos/templates/%s\n%s\n", name, out.String())
	}
}

func functions(root *template.Template) template.FuncMap {
	return template.FuncMap{
		"include": func(name string, data interface{}) (string, error) {
			var out bytes.Buffer
			err := root.ExecuteTemplate(&out, name, data)
			return out.String(), err
		},
		"nindent": func(n int, s string) string { return "\n" + indent(n, s) },
		"indent":  indent,
		"quote": func(v interface{}) string {
			encoded, _ := json.Marshal(fmt.Sprint(v))
			return string(encoded)
		},
		"default": func(fallback interface{}, given ...interface{}) interface{} {
			if len(given) == 0 || empty(given[0]) {
				return fallback
			}
			return given[0]
		},
		"upper":   strings.ToUpper,
		"lower":   strings.ToLower,
		"replace": func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"b64enc":  func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"toJson": func(v interface{}) (string, error) {
			encoded, err := json.Marshal(v)
			return string(encoded), err
		},
		"dict": func(pairs ...interface{}) map[string]interface{} {
			out := map[string]interface{}{}
			for i := 0; i+1 < len(pairs); i += 2 {
				out[fmt.Sprint(pairs[i])] = pairs[i+1]
			}
			return out
		},
	}
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func empty(v interface{}) bool {
	switch value := v.(type) {
	case nil:
		return true
	case string:
		return value == ""
	case bool:
		return !value
	case float64:
		return value == 0
	case []interface{}:
		return len(value) == 0
	case map[string]interface{}:
		return len(value) == 0
	}
	return false
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
