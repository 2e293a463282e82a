# E5's LLM branch: falcon-7b-instruct associations of COCO captions (see DESIGN.md, E5).
