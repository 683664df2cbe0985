"""What the JSON API and the dashboard share over HTTP: the request's database session and blob
store, who is calling (API token), role guards, the coursework a path names, and streaming a
stored blob. Both presentation layers import it; it imports neither."""
