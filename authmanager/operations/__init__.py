"""What owners and admins do, shared by the CLI, the console and the admin API: realms,
policies, answering requests put to the owner, and revocation. No aiohttp here."""
