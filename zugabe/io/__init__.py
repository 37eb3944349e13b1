"""Reading and writing: GeoJSON, GIS files, CRS conversion at the edges."""
