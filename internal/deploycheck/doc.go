// Package deploycheck holds the tests that read the deployment as code —
// terraform/, Dockerfile and cloudbuild.yaml — and hold it to the security
// invariants nothing else here can check: there is no cloud to apply to and no
// Docker engine to build with.
package deploycheck
