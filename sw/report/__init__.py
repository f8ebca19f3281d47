"""Reports: JSON documents, rich tables and plots of plans and schedules."""
