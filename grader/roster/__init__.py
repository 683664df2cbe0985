"""The students enrolled on the module, as the course system lists them."""
