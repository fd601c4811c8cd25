package apiserver

// redisFactories are the Redis-backed stores the end-to-end tests also run
// on; empty until site/redisstore is committed.
var redisFactories []storeFactory
