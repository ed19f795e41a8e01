package etcdtest

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	m := Start(t)
	get := func() error {
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(m.ClientURL + "/health")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("health after Start: %v", err)
	}
	m.Stop()
	if err := get(); err == nil {
		t.Fatal("health answered after Stop")
	}
	start := time.Now()
	m.Restart(t)
	t.Logf("restart healthy in %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.waitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("three members: skipped with -short")
	}
	c := StartCluster(t, 3)
	if len(c.Endpoints()) != 3 {
		t.Fatalf("endpoints %v", c.Endpoints())
	}
}
