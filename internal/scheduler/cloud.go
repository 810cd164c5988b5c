package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	cloudscheduler "cloud.google.com/go/scheduler/apiv1"
	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// NewClient is the Cloud Scheduler client; with an endpoint, a plaintext stand-in.
func NewClient(ctx context.Context, endpoint string) (*cloudscheduler.CloudSchedulerClient, error) {
	if endpoint == "" {
		return cloudscheduler.NewCloudSchedulerClient(ctx)
	}
	return cloudscheduler.NewCloudSchedulerClient(ctx, option.WithEndpoint(endpoint), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
}

// Cloud keeps one Cloud Scheduler job per monitor, named Prefix + the
// monitor's id (the run account may create and delete only jobs so named),
// calling URL with an OIDC token of Invoker for Audience: the same check
// as a Cloud Tasks delivery.
type Cloud struct {
	Client   *cloudscheduler.CloudSchedulerClient
	Parent   string // projects/P/locations/L
	Prefix   string // SCHEDULER_JOB_PREFIX
	URL      string // the internal route's absolute URL
	Audience string
	Invoker  string
}

// Call is the body a job posts: which monitor is due.
type Call struct {
	Client string `json:"client"`
	ID     string `json:"id"`
}

func (c *Cloud) name(id string) string { return c.Parent + "/jobs/" + c.Prefix + id }

// Put creates the monitor's job. One that exists already (the same
// monitor created again after a failed answer) is replaced.
func (c *Cloud) Put(ctx context.Context, client, id, spec, tz string) error {
	if _, err := Parse(spec, tz); err != nil {
		return err
	}
	body, _ := json.Marshal(Call{Client: client, ID: id})
	if tz == "" {
		tz = "Etc/UTC"
	}
	job := &schedulerpb.Job{
		Name: c.name(id), Description: "pixashot monitor " + id + " of " + client,
		Schedule: spec, TimeZone: tz,
		// Only the queueing happens in the call; the capture runs from the queue.
		AttemptDeadline: durationpb.New(30 * time.Second),
		RetryConfig:     &schedulerpb.RetryConfig{RetryCount: 3, MinBackoffDuration: durationpb.New(10 * time.Second)},
		Target: &schedulerpb.Job_HttpTarget{HttpTarget: &schedulerpb.HttpTarget{
			Uri: c.URL, HttpMethod: schedulerpb.HttpMethod_POST, Body: body,
			Headers: map[string]string{"Content-Type": "application/json"},
			AuthorizationHeader: &schedulerpb.HttpTarget_OidcToken{OidcToken: &schedulerpb.OidcToken{
				ServiceAccountEmail: c.Invoker, Audience: c.Audience}},
		}},
	}
	_, err := c.Client.CreateJob(ctx, &schedulerpb.CreateJobRequest{Parent: c.Parent, Job: job})
	if status.Code(err) == codes.AlreadyExists {
		_, err = c.Client.UpdateJob(ctx, &schedulerpb.UpdateJobRequest{Job: job})
	}
	if err != nil {
		return fmt.Errorf("scheduler: creating the job of monitor %s: %w", id, err)
	}
	return nil
}

// Delete removes the monitor's job; one that is gone is no error.
func (c *Cloud) Delete(ctx context.Context, _, id string) error {
	err := c.Client.DeleteJob(ctx, &schedulerpb.DeleteJobRequest{Name: c.name(id)})
	if err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("scheduler: deleting the job of monitor %s: %w", id, err)
	}
	return nil
}
