"""Automation: templates (named, versioned run configurations), schedules that fire them, and webhooks that tell
receivers what happened."""
