"""The Tasqyn service: database, publication, the JSON API (`/api/v1`) and the web dashboard."""
