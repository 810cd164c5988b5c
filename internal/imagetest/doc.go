// Package imagetest runs the built container image the way Cloud Run runs
// it and checks what a user deploys: make image-test starts it with podman
// under crun and under gVisor (runsc), as user 10001 with a read-only root,
// a tmpfs /tmp, 2 GiB and 2 CPUs, and drives it over HTTP. Without
// PIXASHOT_IMAGE (make test) the package has nothing to run.
package imagetest
