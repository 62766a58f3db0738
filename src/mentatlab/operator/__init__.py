"""The MentatLab operator: reconciles FlowRun (and AgentDeployment) resources with kopf."""
