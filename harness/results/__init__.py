"""The result model every report writer consumes."""
