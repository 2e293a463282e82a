# Experiment `retrieval`: see DESIGN.md and config/README.md.


def retrieval_final_output():
    return []
