"""The dashboard's route modules; ``grader.web.app.mount_web`` includes each one's ``router``."""
