package deploycheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type cloudBuild struct {
	Substitutions map[string]string `yaml:"substitutions"`
	Steps         []struct {
		ID         string   `yaml:"id"`
		Name       string   `yaml:"name"`
		Entrypoint string   `yaml:"entrypoint"`
		Args       []string `yaml:"args"`
	} `yaml:"steps"`
	Images []string `yaml:"images"`
}

func TestCloudBuild(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "cloudbuild.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cb cloudBuild
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(false)
	if err := dec.Decode(&cb); err != nil {
		t.Fatal(err)
	}
	var ids []string
	steps := map[string]string{}
	for _, s := range cb.Steps {
		ids = append(ids, s.ID)
		steps[s.ID] = s.Entrypoint + " " + strings.Join(s.Args, " ")
	}
	want := []string{"vet", "test", "govulncheck", "build", "push", "deploy"}
	if !slices.Equal(ids, want) {
		t.Errorf("steps %v, want %v in that order", ids, want)
	}
	for _, sub := range []string{"_REGION", "_SERVICE", "_REPOSITORY"} {
		if _, ok := cb.Substitutions[sub]; !ok {
			t.Errorf("no substitution %s", sub)
		}
	}
	if len(cb.Images) != 1 || !strings.Contains(cb.Images[0], "${COMMIT_SHA}") || !strings.Contains(cb.Images[0], "${PROJECT_ID}") {
		t.Fatalf("images %v: one image tagged with the commit", cb.Images)
	}
	if !strings.Contains(steps["build"], "--tag="+cb.Images[0]) || !strings.Contains(steps["push"], cb.Images[0]) {
		t.Error("the image built, pushed and listed must be the same")
	}
	if !strings.Contains(steps["deploy"], "--image=") || !strings.Contains(steps["deploy"], "${_SERVICE}") {
		t.Error("deploy must roll the new image out to the service")
	}
	if !strings.Contains(steps["govulncheck"], "govulncheck") || !strings.Contains(steps["test"], "go test") {
		t.Error("tests and govulncheck must run before the build")
	}
	// Cloud Build substitutes $name itself: a shell variable must be $$name.
	for _, s := range cb.Steps {
		for _, a := range s.Args {
			for _, f := range strings.Fields(a) {
				if i := strings.Index(f, "$"); i >= 0 && !strings.HasPrefix(f[i:], "${") && !strings.HasPrefix(f[i:], "$$") {
					t.Errorf("step %s: %q would be eaten by substitution", s.ID, f)
				}
			}
		}
	}
}
