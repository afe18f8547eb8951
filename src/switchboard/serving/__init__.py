"""What keeps the server up under hostile connections: the file-descriptor budget, the HTTP
protocol with its timeouts and connection cap, and logging that cannot flood."""
