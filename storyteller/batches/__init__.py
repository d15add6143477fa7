"""What a batch is, between the routes and the database: intake, listing, deletion."""
