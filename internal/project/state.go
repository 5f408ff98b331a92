package project

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// StateFile is the per-user state file's name inside StateDir.
const StateFile = "state.yml"

// State is the per-user state: the current project and the projects used before.
type State struct {
	// CurrentProject is the absolute directory of the current project.
	CurrentProject string `yaml:"current_project,omitempty"`
	// Projects are the project directories used before, most recent first.
	Projects []string `yaml:"projects,omitempty"`
}

// StateDir is $XDG_CONFIG_HOME/esb when XDG_CONFIG_HOME is set, else ~/.esb.
func StateDir(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "esb"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the state directory: set HOME or XDG_CONFIG_HOME: %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".esb"), nil
}

// ReadState reads the state file in dir; a missing file is an empty state.
func ReadState(dir string) (State, error) {
	var st State
	path := filepath.Join(dir, StateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read %s: %w", path, err)
	}
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil && !errors.Is(err, io.EOF) {
		return State{}, fmt.Errorf("%s is damaged (%v); delete it and run `esb project DIR` again", path, err)
	}
	return st, nil
}

// WriteState writes the state file in dir atomically.
func WriteState(dir string, st State) error {
	data, err := yaml.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory %s: %w", dir, err)
	}
	return manifest.WriteFileAtomic(filepath.Join(dir, StateFile), data, 0o600)
}

// maxRecentProjects bounds the state file's project list.
const maxRecentProjects = 20

// Use makes dir the current project, most recent in the list.
func (s *State) Use(dir string) {
	s.CurrentProject = dir
	list := []string{dir}
	for _, p := range s.Projects {
		if p != dir && len(list) < maxRecentProjects {
			list = append(list, p)
		}
	}
	s.Projects = list
}
