Loaded = 'only_dead'
return 'dead'
