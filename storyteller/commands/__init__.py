"""The commands of `storyteller`, a module for each kind: on files, the service, its API."""
