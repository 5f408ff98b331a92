package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edgeserverlessbox/esb/internal/project"
	"github.com/edgeserverlessbox/esb/internal/supervisor"
)

func newTokenCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a fresh IdToken for the gateway",
		Long: `Log in to the running gateway with the project's API key, user and password
(state/secrets.env, or X_API_KEY / AUTH_USER / AUTH_PASS) and print the IdToken:

  curl --cacert .esb/state/certs/ca.crt -H "Authorization: Bearer $(esb token)" https://localhost/hello`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runToken(cmd.Context(), g)
		},
	}
	return cmd
}

func runToken(ctx context.Context, g *Globals) error {
	if ctx == nil {
		ctx = context.Background()
	}
	wd, err := workDir()
	if err != nil {
		return err
	}
	proj, err := project.Load(project.Options{Template: g.Template, Env: g.Env, Dir: wd})
	if err != nil {
		return err
	}
	l := layoutOf(proj)
	sec, err := supervisor.LoadSecrets(l, os.Getenv)
	if err != nil {
		return err
	}
	st, err := supervisor.NewClient(l).Status(ctx)
	if errors.Is(err, supervisor.ErrNotRunning) {
		return fmt.Errorf("%s is not running; start it with `esb up`", proj.Name)
	}
	if err != nil {
		return err
	}
	base := st.Info[infoGwHTTP]
	tok, err := fetchToken(ctx, base, envOr("AUTH_ENDPOINT_PATH", "/user/auth/ver1.0"), sec)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.Stdout, tok)
	return nil
}

// fetchToken logs in at the gateway's auth path and returns the IdToken.
func fetchToken(ctx context.Context, base, path string, sec supervisor.Secrets) (string, error) {
	body, _ := json.Marshal(map[string]any{"AuthParameters": map[string]string{"USERNAME": sec.User, "PASSWORD": sec.Password}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", sec.APIKey)
	resp, err := localHTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("log in at the gateway (%s): %w", base, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("log in at the gateway (%s%s): %d %s", base, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	var out struct {
		AuthenticationResult struct {
			IdToken string `json:"IdToken"`
		} `json:"AuthenticationResult"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.AuthenticationResult.IdToken == "" {
		return "", fmt.Errorf("log in at the gateway: no IdToken in %s", strings.TrimSpace(string(data)))
	}
	return out.AuthenticationResult.IdToken, nil
}
