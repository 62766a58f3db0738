"""Use cases that combine the layers below: preparing a flow and running it against a store."""
