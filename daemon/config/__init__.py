"""The robot profile (one YAML file, validated once at load): the public names, from :mod:`.profile`."""

from edgepilot.daemon.config.profile import Profile, ProfileError, default_profile_path, load_profile, parse_profile

__all__ = ["Profile", "ProfileError", "default_profile_path", "load_profile", "parse_profile"]
