"""Prefect @task wrappers, one module per phase. Thin: the logic lives in playbooks/."""
